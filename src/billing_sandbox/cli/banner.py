"""What `serve` prints as it starts: the APIs, who may call, where state goes."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from billing_sandbox.app import about, spill_directory
from billing_sandbox.recordings import Recordings, notice_lines
from billing_sandbox.settings import Settings
from billing_sandbox.state.persistence import state_file_of


def banner(
    settings: Settings, recordings: Recordings | None = None, applied: Sequence[str] = ()
) -> str:
    """What a user needs to start: the APIs, the base URL, credentials, specs, control, and
    the scenarios `applied` at start (a line each)."""
    base = f"http://{settings.host}:{settings.port}"
    seeding = f"seed {settings.seed}, {settings.records} records per tenant"
    # The same facts as the root page (`GET /`) and the answer to an unknown path.
    served = about(base)
    apis = "".join(
        f"\n  {api['title']}\n    begin at {api['entry']}\n"
        + "".join(f"    {line}\n" for line in api["start"])
        for api in served["apis"]
    )
    first, *others = (api["spec"]["yaml"] for api in served["apis"])
    specs = ", ".join([first, *(spec.rpartition("/")[2] for spec in others)])
    started = scenarios(settings, applied)
    return f"""billing-sandbox serving on {base}  ({seeding})
{apis}
  specs      {specs}  (or .json)
  home       {base}/  (this list, in a browser or as JSON)
  dashboard  {served["dashboard"]}  (requests live, tenants, records, faults, events)
  control    {base}/_sandbox/health   POST {base}/_sandbox/reset
             {base}/_sandbox/tenants/acme/reference/candid  (or /decoda;
             {base}/_sandbox/tenants/clinic-a.test/reference/mycure)
{access(settings)}{memory(settings)}{state_file(settings)}{recorded(recordings)}{started}
Press Ctrl+C to stop."""


def scenarios(settings: Settings, applied: Sequence[str]) -> str:
    """The scenarios applied at start, and when they are applied again."""
    if not applied:
        return ""
    lines = "".join(f"\n  scenario   {line}" for line in applied)
    every = settings.reset_every
    if every:
        when = f"daily at {every}, the server's local time" if ":" in every else f"every {every}"
        lines += f"\n  reset      {when}: those tenants reset and their scenarios applied again"
    return lines


def memory(settings: Settings) -> str:
    """How many tenants stay in memory, and where the others with writes go."""
    return (
        f"\n  memory     at most {settings.max_tenants} tenants; tenants with writes past that "
        f"spill to {spill_directory(settings)}"
    )


def state_file(settings: Settings) -> str:
    """Where state persists across restarts, when it does."""
    kept = state_file_of(settings)
    if kept is None:
        return ""
    return (
        f"\n  state      {kept}: every change written ahead to its .log (fsync "
        f"{settings.fsync}), nothing acknowledged lost to a kill; saved whole at shutdown"
    )


def recorded(recordings: Recordings | None) -> str:
    """Where recorded answers came from, and what of them is not served as recorded."""
    if recordings is None or recordings.directory is None:
        return ""
    return f"\n  recorded   {recordings.summary()}{notice_lines(recordings.notices)}"


def access(settings: Settings) -> str:
    """Who may call: browser origins, whose credentials, and who reaches the control API."""
    origins = ", ".join(settings.cors_origins) or "localhost, 127.0.0.1 and [::1], any port"
    credentials = (
        f"strict: only those listed in {settings.credentials_file}"
        if settings.credentials_file is not None
        else "any non-empty credentials, as above"
    )
    if settings.control_token:
        control = "the control API needs 'Authorization: Bearer <control token>'"
    elif reachable_from_elsewhere(settings.host):
        # Bound for other machines, which the vendor APIs now answer: say plainly that the
        # control API does not, or a teammate's reset looks like a broken sandbox.
        control = f"""the control API is CLOSED to other machines: bound to {settings.host}, the
             vendor APIs answer anyone, but /_sandbox/... answers only clients on this
             machine (GET /_sandbox/health excepted). To open it, start with
             --control-token TOKEN (or set BILLING_SANDBOX_CONTROL_TOKEN=TOKEN) and send
             'Authorization: Bearer TOKEN'"""
    else:
        control = (
            "the control API answers this machine only, addressed as localhost or a loopback "
            "address (--control-token TOKEN opens it)"
        )
    return f"""
  browsers   CORS lets pages of {origins} call the vendor APIs
             (never the control API: only the dashboard's own pages may)
  auth       {credentials}
  access     {control}"""


def reachable_from_elsewhere(host: str) -> bool:
    """Whether binding `host` lets other machines in: anything but a loopback address or
    `localhost` (`0.0.0.0`, `::`, an interface's address, a name that may resolve to one)."""
    if host.lower() == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True
