"""A freshly seeded tenant of each API, as the bytes of its snapshot (`export_state`)."""

from __future__ import annotations

import orjson

from billing_sandbox.apis import VENDOR_APIS
from billing_sandbox.app import create_app
from billing_sandbox.settings import Settings

# The tenant each API's golden file seeds: MYCURE's tenant is an organisation (email domain).
GOLDEN_TENANTS = {"candid": "acme", "decoda": "acme", "mycure": "clinic-a.test"}
API_NAMES = tuple(api.name for api in VENDOR_APIS)


def exported(settings: Settings, api_name: str, tenant_id: str) -> bytes:
    """The seeded store's snapshot, indented, keys in the order they are kept (and served)."""
    sandbox = create_app(settings).state.sandbox
    kind = sandbox.kinds[api_name]
    state = kind.export_state(sandbox.tenant(tenant_id).store(api_name))
    return orjson.dumps(state, option=orjson.OPT_INDENT_2) + b"\n"
