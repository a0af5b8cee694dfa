"""The APIs the sandbox serves, as a literal tuple (explicit wiring, no discovery)."""

from billing_sandbox.api import Api
from billing_sandbox.apis import candid

VENDOR_APIS: tuple[Api, ...] = (candid.API,)
