"""Whom and what a `contract verify` run acts for: the API each pact is of, the credentials
each API signs in with (on a sandbox given none, a default tenant's: any secret opens one), the
sandbox tenant they name, and the Target a pact is replayed against, built from them."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from billing_sandbox.apis.mycure.records import organisation_of
from billing_sandbox.conformance.apis import APIS
from billing_sandbox.conformance.command import SECRET_FIELDS
from billing_sandbox.conformance.login import CannotRun, Credentials, authenticate
from billing_sandbox.contracts.model import Pact
from billing_sandbox.contracts.replay import signing_for
from billing_sandbox.contracts.target import Target
from billing_sandbox.settings import Settings

# On a sandbox with no credentials given, requests act for this tenant (any secret opens a
# sandbox without a credentials file): the same id is the Candid client id, the Decoda TENANT
# and the MYCURE organisation (the domain of the email), as the testing helpers form them.
DEFAULT_TENANT = "contract-verify"
_DEFAULT_SECRET = "any-secret-opens-a-sandbox"  # noqa: S105 (a sandbox takes any)
DEFAULT_CREDENTIALS = Credentials(
    candid_client_id=DEFAULT_TENANT,
    candid_client_secret=_DEFAULT_SECRET,
    decoda_tenant=DEFAULT_TENANT,
    decoda_api_key=_DEFAULT_SECRET,
    mycure_email=f"verify@{DEFAULT_TENANT}",
    mycure_password=_DEFAULT_SECRET,
)
# The fields of `Credentials` each API reads: none given means "use the default" on a sandbox.
_FIELDS_OF = {
    "candid": ("candid_client_id", "candid_client_secret", "candid_token"),
    "decoda": ("decoda_tenant", "decoda_api_key"),
    "mycure": ("mycure_email", "mycure_password", "mycure_token"),
}


@dataclass(frozen=True)
class Signed:
    """One API's requests as this run signs them, and the tenant they act for."""

    target: Target
    description: str
    secrets: tuple[str, ...]


def spec_stem(api: str) -> str:
    """The stem of an API's spec file: the provider name its pacts carry."""
    return Path(APIS[api].spec_file).stem


def api_of(pact: Pact, chosen: str | None) -> str:
    """The API a pact is of: `--api`, else the one whose spec its provider names."""
    if chosen is not None:
        return chosen
    for name in APIS:
        if spec_stem(name) == pact.provider:
            return name
    known = ", ".join(spec_stem(name) for name in sorted(APIS))
    raise CannotRun(
        f"{pact.source or 'a pact'}: its provider {pact.provider!r} is none of the APIs "
        f"served ({known}); say which it is with --api"
    )


def sign_in(
    api: str,
    base_url: str,
    given: Credentials,
    sandbox: bool,
    control_token: str,
    args: argparse.Namespace,
    lookalike: bool,
) -> Signed:
    """Sign in to `api` with the given credentials (on a sandbox, the default ones when none
    is given) and say how its requests are signed, and for which tenant."""
    fields = _FIELDS_OF[api]
    use_default = sandbox and not any(getattr(given, name) for name in fields)
    credentials = DEFAULT_CREDENTIALS if use_default else given
    auth = authenticate(api, base_url, credentials)
    spec = Settings().specs_dir / APIS[api].spec_file
    target = Target(
        base_url=base_url,
        signing=signing_for(spec, auth.schemes),
        sandbox=sandbox,
        tenant=tenant_of(api, credentials) if sandbox else None,
        control_token=control_token if sandbox else "",
        allow_writes=args.allow_writes,
        timeout_seconds=args.timeout,
        answers_like_sandbox=lookalike,
    )
    secrets = (*auth.secrets, *(getattr(credentials, name) for name in SECRET_FIELDS))
    description = auth.description + (" (the default on a sandbox)" if use_default else "")
    return Signed(target, description, tuple(s for s in secrets if s))


def tenant_of(api: str, credentials: Credentials) -> str | None:
    """The sandbox tenant the credentials act for: Decoda's TENANT, Candid's client id,
    MYCURE's organisation (the domain of the email). None for a ready token, which names no
    tenant the command can read."""
    if api == "decoda":
        return credentials.decoda_tenant or None
    if api == "candid":
        return None if credentials.candid_token else credentials.candid_client_id or None
    if credentials.mycure_token or "@" not in credentials.mycure_email:
        return None
    return organisation_of(credentials.mycure_email)
