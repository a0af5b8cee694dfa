"""Settings: defaults, and the environment."""

from __future__ import annotations

import pytest

from billing_sandbox.settings import InvalidSetting, Settings


def test_settings_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {"BILLING_SANDBOX_SEED": "7", "BILLING_SANDBOX_RESPONSE_VALIDATION": "off"}, port=9000
    )
    assert (settings.seed, settings.response_validation, settings.port) == (7, False, 9000)


def test_a_misspelt_boolean_variable_is_refused_not_read_as_false() -> None:
    with pytest.raises(InvalidSetting, match=r"^BILLING_SANDBOX_RESPONSE_VALIDATION must be true"):
        Settings.from_env({"BILLING_SANDBOX_RESPONSE_VALIDATION": "flase"})


def test_a_value_given_in_code_is_checked_as_a_variable_is() -> None:
    with pytest.raises(InvalidSetting, match=r"^port \(BILLING_SANDBOX_PORT\) must be a whole"):
        Settings(port=70_000)
    with pytest.raises(InvalidSetting, match=r"^log_format \(BILLING_SANDBOX_LOG_FORMAT\)"):
        Settings(log_format="xml")
