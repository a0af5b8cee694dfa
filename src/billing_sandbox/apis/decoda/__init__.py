"""Decoda Health billing (legacy /v1 and current API over one store): the descriptor."""

from billing_sandbox.api import Api
from billing_sandbox.apis.decoda import control, handlers
from billing_sandbox.apis.decoda.auth import CREDENTIALS, authenticate
from billing_sandbox.apis.decoda.envelope import render_error
from billing_sandbox.apis.decoda.installments import SETTLE_STEP
from billing_sandbox.apis.decoda.recorded import RECORDED_OPERATIONS, load_recorded
from billing_sandbox.apis.decoda.reference import reference
from billing_sandbox.apis.decoda.renderings import renderings
from billing_sandbox.apis.decoda.seed import new_store
from billing_sandbox.apis.decoda.state import export_state, import_state, served_records
from billing_sandbox.tenants.tenant import StoreKind

API = Api(
    name=control.NAME,
    title="Decoda Health billing",
    spec_file="decoda-billing.yaml",
    handlers=handlers,
    render_error=render_error,
    rate_limit_headers=True,
    authenticate=authenticate,
    credentials=CREDENTIALS,
    entry="/billing/charge/list",
    start=(
        "headers: TENANT: acme  API-KEY: any (any non-empty pair; TENANT names your tenant)",
        "the legacy API too: {base}/v1/charge/list",
    ),
    first_calls=("curl -s {base}/billing/charge/list -H 'TENANT: acme' -H 'API-KEY: any'",),
    store=StoreKind(
        new_store=new_store,
        export_state=export_state,
        served_records=served_records,
        import_state=import_state,
        renderings=renderings,
        reference=reference,
        recorded_operations=RECORDED_OPERATIONS,
        load_recorded=load_recorded,
        on_clock_moved=control.on_clock_moved,
        fault_steps=(SETTLE_STEP,),
        outbox=lambda store: store.hooks,
    ),
    control=control,
)
