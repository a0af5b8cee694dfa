"""Settings: defaults, and the environment."""

from __future__ import annotations

from billing_sandbox.settings import Settings


def test_settings_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {"BILLING_SANDBOX_SEED": "7", "BILLING_SANDBOX_RESPONSE_VALIDATION": "off"}, port=9000
    )
    assert (settings.seed, settings.response_validation, settings.port) == (7, False, 9000)
