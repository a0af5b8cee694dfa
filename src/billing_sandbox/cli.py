"""The command line: `billing-sandbox serve`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn

from billing_sandbox.app import create_app
from billing_sandbox.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="billing-sandbox",
        description="Stateful, spec-driven fakes of healthcare-billing APIs.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the fakes with seeded data")
    defaults = Settings.from_env()
    serve.add_argument(
        "--host", default=defaults.host, help="interface to bind (default: %(default)s)"
    )
    serve.add_argument("--port", type=int, default=defaults.port, help="default: %(default)s")
    serve.add_argument("--seed", type=int, default=defaults.seed, help="default: %(default)s")
    serve.add_argument(
        "--records",
        type=int,
        default=defaults.records,
        help="write-offs seeded per Candid tenant (default: %(default)s)",
    )
    serve.add_argument(
        "--no-response-validation",
        action="store_true",
        help="skip checking each response against its spec (on by default)",
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env(
        host=args.host,
        port=args.port,
        seed=args.seed,
        records=args.records,
        response_validation=defaults.response_validation and not args.no_response_validation,
    )
    app = create_app(settings)
    print(banner(settings), flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0


def banner(settings: Settings) -> str:
    """What a user needs to start: the APIs, the base URL, credentials, specs, control."""
    base = f"http://{settings.host}:{settings.port}"
    seeding = f"seed {settings.seed}, {settings.records} records per tenant"
    return f"""billing-sandbox serving on {base}  ({seeding})

  Candid Health write-offs v1   {base}/api/write-offs/v1
    token:   POST {base}/api/auth/v2/token  {{"client_id": "acme", "client_secret": "any"}}
             any non-empty client id/secret works; the client id names your tenant

  Decoda Health billing         {base}/billing/charge/list   (legacy: {base}/v1/charge/list)
    headers: TENANT: acme   API-KEY: any   (any non-empty pair; TENANT names your tenant)

  MYCURE billing SOAs           {base}/billing-soas
    sign in: POST {base}/authentication  {{"strategy": "local", "email": "ana@clinic-a.test",
             "password": "any"}}; any password works; the email's domain names your tenant

  specs      {base}/_sandbox/openapi/candid-write-offs.yaml, decoda-billing.yaml,
             mycure-billing-soas.yaml  (or .json)
  control    {base}/_sandbox/health   POST {base}/_sandbox/reset
             {base}/_sandbox/tenants/acme/reference/candid  (or /decoda;
             {base}/_sandbox/tenants/clinic-a.test/reference/mycure)
Press Ctrl+C to stop."""
