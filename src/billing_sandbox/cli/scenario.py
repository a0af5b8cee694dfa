"""`billing-sandbox scenario`: check scenario files offline, or record a tenant's writes as one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import quote

import httpx
import yaml

from billing_sandbox import scenarios
from billing_sandbox.app import load_specs
from billing_sandbox.errors import counted
from billing_sandbox.settings import Settings

NAME = "scenario"
HELP = "check scenario files against the specs, or record a tenant's writes as one"
DESCRIPTION = (
    "Scenarios are named stories of vendor API calls that set a tenant up (docs: Scenarios). "
    "'check' validates files offline, before anything runs: the format, every reference, and "
    "every step's request against its API's spec. 'record' turns the writes a tenant of a "
    "running sandbox has received into a scenario file that rebuilds them in a fresh tenant."
)
# How long `record` waits for the sandbox.
TIMEOUT_SECONDS = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{check,record}")
    check = actions.add_parser(
        "check",
        help="validate scenario files (exit 0: all good; 1: problems, each FILE: location: "
        "message; 2: a file cannot be read)",
        description="Validate scenario files offline against the specs the sandbox serves "
        "(BILLING_SANDBOX_SPECS_DIR, or the bundled ones). Exit 0 when every file is good, 1 "
        "when one has problems (each printed as FILE: location: message), 2 when one cannot "
        "be read.",
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    record = actions.add_parser(
        "record",
        help="write a tenant's writes on a running sandbox as a scenario file",
        description="Fetch GET /_sandbox/tenants/TENANT/scenario from the sandbox at URL (with "
        "BILLING_SANDBOX_CONTROL_TOKEN, if it was started with a control token) and write the "
        "scenario file: its steps rebuild the tenant's records in a fresh tenant.",
    )
    record.add_argument("--base-url", required=True, metavar="URL", help="the running sandbox")
    record.add_argument("--tenant", required=True, metavar="TENANT")
    record.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write it (default: NAME.yaml here, NAME being the scenario's; - for "
        "standard output)",
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "check":
        return check(args.files, Settings.from_env())
    return record(args.base_url, args.tenant, args.output, Settings.from_env())


def check(files: list[Path], settings: Settings) -> int:
    """Each file loaded and checked against the specs; its problems on standard output."""
    specs = load_specs(settings)
    worst = 0
    for path in files:
        try:
            path.read_bytes()
        except OSError as error:
            print(f"billing-sandbox: {path}: cannot be read ({error.strerror})", file=sys.stderr)
            worst = 2
            continue
        try:
            scenario = scenarios.load_scenario(path)
        except scenarios.ScenarioInvalid as invalid:
            problems, good = invalid.problems, ""
        else:
            problems = scenarios.check_scenario(scenario, specs)
            good = f"{path}: ok ({scenario.name}, {counted(scenario.size, 'step')} to run)"
        for problem in problems:
            print(f"{path}: {problem}")
        if problems:
            worst = max(worst, 1)
        else:
            print(good)
    return worst


def record(base_url: str, tenant: str, output: str | None, settings: Settings) -> int:
    """The recording as the sandbox writes it (YAML, its notes as comments at its top)."""
    base = base_url.rstrip("/")
    url = f"{base}/_sandbox/tenants/{quote(tenant, safe='')}/scenario"
    token = settings.control_token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        answer = httpx.get(url, params={"format": "yaml"}, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        print(f"billing-sandbox: no sandbox answers at {base} ({error})", file=sys.stderr)
        return 1
    if answer.status_code != 200:
        print(f"billing-sandbox: {url} answered {answer.status_code}: {_said(answer)}",
              file=sys.stderr)  # fmt: skip
        return 1
    text = answer.text
    recorded = yaml.safe_load(text)
    steps = len(recorded.get("steps", [])) if isinstance(recorded, dict) else 0
    if output == "-":
        sys.stdout.write(text)
        return 0
    name = recorded.get("name") if isinstance(recorded, dict) else None
    target = Path(output or f"{name or 'recorded'}.yaml")
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"billing-sandbox: {target}: cannot be written ({error.strerror})", file=sys.stderr)
        return 1
    notes = [line[2:] for line in text.splitlines() if line.startswith("# ")]
    print(f"wrote {target}: {counted(steps, 'step')} from tenant {tenant}")
    for note in notes:
        print(f"  {note}")
    return 0


def _said(answer: httpx.Response) -> str:
    """What an error answer says: the control API's message, else its text."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:300]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return answer.text[:300]
