"""MYCURE billing statements of account (a FeathersJS service): the descriptor."""

from billing_sandbox.api import Api
from billing_sandbox.apis.mycure import handlers
from billing_sandbox.apis.mycure.auth import CREDENTIALS, NAME, authenticate, replay_action
from billing_sandbox.apis.mycure.envelope import render_error
from billing_sandbox.apis.mycure.realtime import MOUNT
from billing_sandbox.apis.mycure.recorded import RECORDED_OPERATIONS, load_recorded
from billing_sandbox.apis.mycure.reference import reference
from billing_sandbox.apis.mycure.renderings import renderings
from billing_sandbox.apis.mycure.seed import new_store
from billing_sandbox.apis.mycure.state import export_state, import_state, served_records
from billing_sandbox.tenants.tenant import StoreKind

API = Api(
    name=NAME,
    title="MYCURE billing statements of account",
    spec_file="mycure-billing-soas.yaml",
    handlers=handlers,
    render_error=render_error,
    authenticate=authenticate,
    credentials=CREDENTIALS,
    entry="/billing-soas",
    start=(
        'sign in: POST {base}/authentication {"strategy": "local", '
        '"email": "ana@clinic-a.test", "password": "any"}',
        "any password works; the email's domain names your tenant",
    ),
    first_calls=(
        "curl -s -X POST {base}/authentication -H 'Content-Type: application/json' "
        """-d '{"strategy": "local", "email": "ana@clinic-a.test", "password": "any"}'""",
        "curl -s '{base}/billing-soas?$limit=5' -H 'Authorization: Bearer <accessToken>'",
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
        replay_action=replay_action,
    ),
    trailing_slash=True,
    mount=MOUNT,
)
