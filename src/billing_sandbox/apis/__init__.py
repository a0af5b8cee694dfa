"""The APIs the sandbox serves, as a literal tuple (explicit wiring, no discovery)."""

from billing_sandbox.api import Api
from billing_sandbox.apis import candid, decoda, mycure

VENDOR_APIS: tuple[Api, ...] = (candid.API, decoda.API, mycure.API)
