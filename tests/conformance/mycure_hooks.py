"""schemathesis hooks: point generated MYCURE ids and credentials at the run's organisation.

MYCURE ids are plain strings, so a generated facility, customer or statement id is almost
never one the organisation has, and the request ends in 403, 400 or 404 before any other rule
runs. These hooks replace them with the curated records every organisation has
(fixtures/mycure/*.yaml): the two facilities, the three organizations, the three insurance
contracts and the four statements (two drafts, two finalized). Sign-ins are pointed at the
run's own organisation, and the tokens a jwt or refresh body carries at the run's own, so
that authenticate → getAccount follows a real account. Only values that are already strings
are replaced, by other strings the schema allows, so a generated request stays exactly as
valid, or as invalid, as it was (schemathesis re-validates edited cases). Body values are
replaced in positive cases only.

The run's sign-in comes from the test (test_mycure_fuzz.py) in the MYCURE_CONFORMANCE
environment variable: `{"organisation", "uid", "accessToken", "refreshToken"}`.

Statement ids the sandbox itself issued (24 lowercase hex digits that do not start with the
curated `5eb0`: created ones and the Faker-made seed) are kept: in the stateful phase they
come from links (createBillingSoa → patchBillingSoa → removeBillingSoa), in the fuzzing phase
from earlier responses, and neither must be redirected.

removeBillingSoa is never pointed at a curated statement, and its cases that name one are
dropped: a removed statement is gone for good, and every later get or patch naming it would
be a 404. Its stateless cases are therefore 404s; it removes the statements the stateful phase
creates and finalizes (createBillingSoa → patchBillingSoa with `finalize: true` →
removeBillingSoa), for which patches that say `finalize: false` are made to say `true` (see
map_body).
"""

from __future__ import annotations

import copy
import json
import os
import re
import zlib
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

import schemathesis

FACILITIES = ("5eb00000000000000000fa01", "5eb00000000000000000fa02")
# The customer a statement names must be of the kind its `type` says.
CUSTOMERS = {
    "organization": (
        "5eb00000000000000000c001",  # hmo
        "5eb00000000000000000c002",  # government
        "5eb00000000000000000c003",  # corporate partner
    ),
    "insurance-contract": (
        "5eb00000000000000000cc01",  # fa01 ↔ c001
        "5eb00000000000000000cc02",  # fa01 ↔ c003
        "5eb00000000000000000cc03",  # fa02 ↔ c002
    ),
}
# 5a01 and 5a02 are drafts, 5a03 and 5a04 finalized.
SOAS = (
    "5eb000000000000000005a01",
    "5eb000000000000000005a02",
    "5eb000000000000000005a03",
    "5eb000000000000000005a04",
)
# Used with fullmatch: `$` would also match before a trailing newline, and "\n" is an id the
# fuzzer does send.
CURATED = re.compile(r"5eb0[0-9a-f]{20}")
ISSUED = re.compile(r"(?!5eb0)[0-9a-f]{24}")
# Account uids are 28 base62 characters (accounts.py); a generated string almost never is.
ISSUED_UID = re.compile(r"[0-9A-Za-z]{28}")
MAX_EMAIL = 254  # LocalStrategy.email's maxLength

Hook = TypeVar("Hook", bound=Callable[..., Any])


def only_for(*operation_ids: str) -> Callable[[Hook], Hook]:
    """`schemathesis.hook`, applied to these operations only (its `apply_to` is untyped)."""

    def register(hook: Hook) -> Hook:
        registry: Any = schemathesis.hook
        registry.apply_to(operation_id=list(operation_ids))(hook)
        return hook

    return register


@cache
def sign_in() -> dict[str, str]:
    """The run's organisation, account uid and tokens, as the test signed in."""
    text = os.environ.get("MYCURE_CONFORMANCE")
    if text is None:
        raise RuntimeError("MYCURE_CONFORMANCE is not set; run these hooks from the test")
    value: dict[str, str] = json.loads(text)
    return value


def _pick(value: str, choices: tuple[str, ...]) -> str:
    """A curated id chosen by the generated value: varied, and the same on every run (crc32,
    not the salted `hash()`)."""
    return choices[zlib.crc32(value.encode("utf-8", "surrogatepass")) % len(choices)]


def _swap(holder: dict[str, Any], key: str, choices: tuple[str, ...]) -> None:
    """Replace a string that is none of `choices` by one of them."""
    value = holder.get(key)
    if isinstance(value, str) and value not in choices:
        holder[key] = _pick(value, choices)


def _new_soa(body: dict[str, Any]) -> None:
    """A facility of the organisation, and a customer of the kind `type` names (403 and 400
    otherwise). Facilities and customers are never created at runtime: nothing to keep."""
    _swap(body, "facility", FACILITIES)
    kind = body.get("type")
    if isinstance(kind, str) and kind in CUSTOMERS:
        _swap(body, "customer", CUSTOMERS[kind])


def _own_organisation(body: dict[str, Any]) -> None:
    """Sign-ins land in the run's organisation, so the account is one getAccount can see, and
    jwt and refresh bodies carry genuine tokens instead of ending in 401."""
    run = sign_in()
    email = body.get("email")
    if isinstance(email, str) and "@" in email:
        # The local part is kept: it is what was generated, and it makes a new account.
        domain = "@" + run["organisation"]
        body["email"] = email.rpartition("@")[0][: MAX_EMAIL - len(domain)] + domain
    if isinstance(body.get("accessToken"), str):
        body["accessToken"] = run["accessToken"]
    if isinstance(body.get("refreshToken"), str):
        body["refreshToken"] = run["refreshToken"]


def _operation_id(operation: Any) -> str:
    return str(operation.definition.raw.get("operationId", ""))


# A case hook slows schemathesis down badly on an operation with path parameters (see
# decoda_hooks.py), so it is kept to these two; path ids are replaced by the hooks below.
@only_for("authenticate", "createBillingSoa")
def map_case(context: Any, case: Any) -> Any:
    meta = case.meta
    if meta is None or meta.generation.mode is not schemathesis.GenerationMode.POSITIVE:
        return case
    if not isinstance(case.body, dict):
        return case
    # Generated containers may share nested objects with other cases: edit a copy.
    body = copy.deepcopy(case.body)
    if _operation_id(case.operation) == "authenticate":
        _own_organisation(body)
    else:
        _new_soa(body)
    if body != case.body:
        case.body = body
    return case


# No case is positive or negative because of a path id: any non-empty string is one.
@only_for("getBillingSoa", "patchBillingSoa", "getAccount")
def map_path_parameters(context: Any, path_parameters: dict[str, Any]) -> dict[str, Any]:
    replaced = dict(path_parameters)
    soa_id = replaced.get("id")
    if isinstance(soa_id, str) and not ISSUED.fullmatch(soa_id):
        replaced["id"] = _pick(soa_id, SOAS)
    uid = replaced.get("uid")
    if isinstance(uid, str) and not ISSUED_UID.fullmatch(uid):
        replaced["uid"] = sign_in()["uid"]
    return replaced


@only_for("removeBillingSoa")
def filter_path_parameters(context: Any, path_parameters: dict[str, Any]) -> bool:
    soa_id = path_parameters.get("id")
    return not (isinstance(soa_id, str) and CURATED.fullmatch(soa_id))


# Deterministic generation almost always says `finalize: false` (157 false to 8 true in one
# run), and only a finalized statement can be removed, so patchBillingSoa → removeBillingSoa
# never succeeded, and "missing test data" failed the run for removeBillingSoa. Every `false`
# becomes `true` (a boolean for a boolean: validity is unchanged): that took the stateful
# phase from 0 to 15 removals; turning only half of them gave 3 to 14, by max-steps. `false`
# is a no-op that tests/mycure covers. A body hook, unlike a case hook, costs little on an
# operation with path parameters (fuzzing went from 5.8 s to 6.4 s).
@only_for("patchBillingSoa")
def map_body(context: Any, body: Any) -> Any:
    if isinstance(body, dict) and body.get("finalize") is False:
        return {**body, "finalize": True}
    return body
