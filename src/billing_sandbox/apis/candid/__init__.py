"""Candid Health write-offs v1: the descriptor that wires spec, handlers, auth and store."""

from billing_sandbox.api import Api
from billing_sandbox.apis.candid import handlers
from billing_sandbox.apis.candid.auth import CREDENTIALS, authenticate
from billing_sandbox.apis.candid.envelope import render_error
from billing_sandbox.apis.candid.recorded import RECORDED_OPERATIONS, load_recorded
from billing_sandbox.apis.candid.reference import reference
from billing_sandbox.apis.candid.renderings import renderings
from billing_sandbox.apis.candid.seed import new_store
from billing_sandbox.apis.candid.state import export_state, import_state, served_records
from billing_sandbox.tenants.tenant import StoreKind

API = Api(
    name="candid",
    title="Candid Health write-offs v1",
    spec_file="candid-write-offs.yaml",
    handlers=handlers,
    render_error=render_error,
    # Candid's SDK has an error of its own for 503 (`HttpServiceUnavailableError`).
    edge_statuses=frozenset({502, 504}),
    authenticate=authenticate,
    credentials=CREDENTIALS,
    entry="/api/write-offs/v1",
    start=(
        'token: POST {base}/api/auth/v2/token {"client_id": "acme", "client_secret": "any"}',
        "any non-empty client id and secret work; the client id names your tenant",
    ),
    first_calls=(
        "curl -s -X POST {base}/api/auth/v2/token -H 'Content-Type: application/json' "
        """-d '{"client_id": "acme", "client_secret": "any"}'""",
        "curl -s '{base}/api/write-offs/v1?limit=5' -H 'Authorization: Bearer <access_token>'",
    ),
    store=StoreKind(
        new_store=new_store,
        export_state=export_state,
        served_records=served_records,
        import_state=import_state,
        renderings=renderings,
        reference=reference,
        recorded_operations=RECORDED_OPERATIONS,
        load_recorded=load_recorded,
    ),
)
