"""`contract check`: loading OpenAPI documents (ours, the vendors', 3.0 and 3.1, files and URLs),
and naming exactly the interactions a spec changed the way vendors change them breaks."""

from __future__ import annotations

import copy
import socket
import threading
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from billing_sandbox.contracts import openapi
from billing_sandbox.contracts.check import (
    MAX_FINDINGS_PER_INTERACTION,
    Finding,
    check_interaction,
    check_pact,
)
from billing_sandbox.contracts.model import Interaction, Pact, Request, Response
from billing_sandbox.contracts.openapi import OpenApiDocument, SpecUnreadable, load_spec
from billing_sandbox.spec.document import load_yaml

ROOT = Path(__file__).resolve().parents[2]
OUR_SPECS = sorted((ROOT / "openapi").glob("*.yaml"))
VENDOR_DIR = ROOT.parent / "shared" / "reference" / "vendor"
VENDOR_SPECS = [
    "candid-openapi-full.yml",
    "decoda-openapi-current.yaml",
    "decoda-openapi-v1-legacy.yaml",
]
DECODA = ROOT / "openapi" / "decoda-billing.yaml"


# ---------- a consumer of Decoda, as a pact built by hand ----------

CHARGE_ID = "chg_0646de5ad04dd808d0a291fe"
PATIENT_ID = "pat_1ba55ec2240a059068a7809b"
PAYMENT = {
    "paymentId": "pay_af2d46eb6c3c55a32b5aa06f",
    "amount": 2750,
    "chargeId": CHARGE_ID,
    "payment": {
        "id": "pay_af2d46eb6c3c55a32b5aa06f",
        "amount": 2750,
        "status": "SUCCEEDED",
        "paymentMedium": "CHECK",
        "createdDate": "2025-07-10T01:42:00Z",
        "currency": "USD",
        "refunds": [],
    },
}
OUTSTANDING_CHARGE = {
    "id": CHARGE_ID,
    "patientId": PATIENT_ID,
    "total": 5500,
    "totalOutstanding": 2750,
    "status": "OUTSTANDING",
    "externalId": "INV-1001",
    "createdDate": "2025-07-08T11:09:00Z",
    "meta": {"source": "emr"},
    "payments": [PAYMENT],
}
PAID_CHARGE = {**OUTSTANDING_CHARGE, "totalOutstanding": 0, "status": "PAID"}


def _interaction(
    index: int,
    method: str,
    path: str,
    status: int,
    *,
    query: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    body: Any = None,
    expected: Any = None,
) -> Interaction:
    return Interaction(
        index=index,
        description=f"{method} {path} → {status}",
        provider_states=(),
        request=Request(
            method=method,
            path=path,
            query=query or {},
            headers=headers or {},
            body=body,
            has_body=body is not None,
        ),
        response=Response(status=status, body=expected, has_body=expected is not None),
    )


LIST_CHARGES = _interaction(
    0,
    "GET",
    "/billing/charge/list",
    200,
    query={"patient_id": [PATIENT_ID]},
    headers={"TENANT": "acme", "API-KEY": "key", "Accept": "application/json"},
    expected=[OUTSTANDING_CHARGE],
)
GET_CHARGE = _interaction(1, "GET", f"/billing/charge/get/{CHARGE_ID}", 200, expected=PAID_CHARGE)
LIST_CHARGES_V1 = _interaction(
    2,
    "GET",
    "/v1/charge/list",
    200,
    query={"n": ["5"], "sort_by": ["total"]},
    expected=[{"id": CHARGE_ID, "patientId": PATIENT_ID, "totalOutstanding": 0, "total": 62750}],
)
ADJUST = _interaction(
    3,
    "POST",
    "/billing/adjustment/create",
    200,
    headers={"Content-Type": "application/json"},
    body={"chargeId": CHARGE_ID, "amount": -250, "reason": "Courtesy discount"},
    expected={
        "id": "adj_506e4e2c3fe8578c1a5534d9",
        "chargeId": CHARGE_ID,
        "amount": -250,
        "adjustmentType": "ADJUSTMENT",
        "createdDate": "2026-12-07T03:16:31.395881Z",
        "reason": "Courtesy discount",
    },
)
ARCHIVE = _interaction(4, "DELETE", f"/billing/charge/{CHARGE_ID}", 200, expected=True)
CONSUMER = Pact(
    consumer="front-desk",
    provider="decoda-billing",
    specification="4.0",
    interactions=(LIST_CHARGES, GET_CHARGE, LIST_CHARGES_V1, ADJUST, ARCHIVE),
)


@pytest.fixture(scope="module")
def decoda_document() -> dict[str, Any]:
    document: dict[str, Any] = load_yaml(DECODA.read_bytes())
    return document


@pytest.fixture
def changed(decoda_document: dict[str, Any], tmp_path: Path) -> Any:
    """A copy of our Decoda spec to change, written back as YAML, as a vendor publishes it."""

    def publish(change: Any) -> OpenApiDocument:
        document = copy.deepcopy(decoda_document)
        change(document)
        path = tmp_path / "decoda-billing-next.yaml"
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        path.write_text(yaml.dump(document, Dumper=dumper, sort_keys=False), encoding="utf-8")
        return load_spec(str(path))

    return publish


@cache
def _vendor(name: str) -> OpenApiDocument:
    """A vendor's spec, loaded once for the module (Decoda's takes seconds to parse)."""
    return load_spec(str(VENDOR_DIR / name))


def _named(findings: list[Finding]) -> set[str]:
    return {finding.interaction.label for finding in findings}


# ---------- every spec loads ----------


@pytest.mark.parametrize("path", OUR_SPECS, ids=lambda path: path.name)
def test_our_specs_load_with_every_reference_resolved(path: Path) -> None:
    spec = load_spec(str(path))
    assert spec.version.startswith("3.1")
    assert spec.operations
    assert _unresolved(spec) == []


@pytest.mark.parametrize("name", VENDOR_SPECS)
def test_the_vendors_published_specs_load_with_every_reference_resolved(name: str) -> None:
    spec = _vendor(name)
    assert len(spec.operations) >= 30
    # Candid's generator leaves `/` unescaped inside schema names; they resolve all the same.
    assert _unresolved(spec) == []


def _unresolved(spec: OpenApiDocument) -> list[str]:
    missing: list[str] = []
    pending: list[Any] = [spec.document]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and spec.target(reference) is None:
                missing.append(reference)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return missing


def test_a_vendor_spec_answers_a_call_of_ours_and_names_its_drift() -> None:
    """Our Decoda spec follows the vendor's current one for the current routes."""
    current = _vendor("decoda-openapi-current.yaml")
    assert check_interaction(GET_CHARGE, current) == []
    assert check_interaction(LIST_CHARGES, current) == []
    # The legacy `/v1` routes are gone from the current export.
    (gone,) = check_interaction(LIST_CHARGES_V1, current)
    assert (gone.location, gone.reason) == ("paths", "no operation answers GET /v1/charge/list")


# ---------- a clean pact, and specs changed the way vendors change them ----------


def test_a_clean_pact_has_no_findings_against_our_spec() -> None:
    assert check_pact(CONSUMER, load_spec(str(DECODA))) == []


def test_a_field_removed_from_a_response_schema_names_the_interactions_that_read_it(
    changed: Any,
) -> None:
    def remove_external_id(document: dict[str, Any]) -> None:
        del document["components"]["schemas"]["ChargeDetailWithItems"]["properties"]["externalId"]

    findings = check_pact(CONSUMER, changed(remove_external_id))

    assert [(f.interaction.label, f.location, f.reason) for f in findings] == [
        (
            LIST_CHARGES.label,
            "components.schemas.ChargeDetailWithItems.properties",
            "the spec no longer declares $[*].externalId, which the consumer expects",
        ),
        (
            GET_CHARGE.label,
            "components.schemas.ChargeDetailWithItems.properties",
            "the spec no longer declares $.externalId, which the consumer expects",
        ),
    ]


def test_an_enum_narrowed_names_the_interactions_whose_examples_use_the_value(
    changed: Any,
) -> None:
    def drop_paid(document: dict[str, Any]) -> None:
        document["components"]["schemas"]["ChargeStatus"]["enum"].remove("PAID")

    findings = check_pact(CONSUMER, changed(drop_paid))

    assert _named(findings) == {GET_CHARGE.label}
    (finding,) = findings
    assert finding.location == "components.schemas.ChargeStatus.enum"
    assert finding.reason.startswith('response body $.status: "PAID" is not one of OUTSTANDING, ')
    assert finding.reason.endswith("(the enum)")


def test_a_query_parameter_made_required_names_the_calls_that_leave_it_out(
    changed: Any,
) -> None:
    def require_patient(document: dict[str, Any]) -> None:
        document["components"]["parameters"]["PatientIdFilter"]["required"] = True

    findings = check_pact(CONSUMER, changed(require_patient))

    # Both list routes share the parameter; only the legacy call does not send it.
    assert [(f.interaction.label, f.location, f.reason) for f in findings] == [
        (
            LIST_CHARGES_V1.label,
            "components.parameters.PatientIdFilter",
            "required query parameter patient_id is not sent",
        )
    ]


def test_an_operation_removed_names_the_calls_to_it(changed: Any) -> None:
    def remove_archive(document: dict[str, Any]) -> None:
        del document["paths"]["/billing/charge/{charge_id}"]

    findings = check_pact(CONSUMER, changed(remove_archive))

    assert [(f.interaction.label, f.location, f.reason) for f in findings] == [
        (ARCHIVE.label, "paths", f"no operation answers DELETE /billing/charge/{CHARGE_ID}")
    ]


def test_a_method_removed_names_the_path_it_was_on(changed: Any) -> None:
    def make_it_get(document: dict[str, Any]) -> None:
        item = document["paths"]["/billing/charge/{charge_id}"]
        item["get"] = item.pop("delete")

    (finding,) = check_pact(CONSUMER, changed(make_it_get))
    assert finding.interaction == ARCHIVE
    assert finding.location == "paths./billing/charge/{charge_id}"
    assert finding.reason.endswith("(the spec has GET there)")


def test_a_request_body_field_no_longer_declared_names_the_calls_that_send_it(
    changed: Any,
) -> None:
    def drop_reason(document: dict[str, Any]) -> None:
        adjustment = document["components"]["schemas"]["AdjustmentCreate"]
        del adjustment["properties"]["reason"]
        adjustment["required"].remove("reason")

    findings = check_pact(CONSUMER, changed(drop_reason))

    assert [(f.interaction.label, f.location, f.reason) for f in findings] == [
        (
            ADJUST.label,
            "components.schemas.AdjustmentCreate.properties",
            "the spec no longer declares $.reason in the request body, which is sent",
        )
    ]


def test_a_status_no_longer_declared_names_the_interaction(changed: Any) -> None:
    def drop_ok(document: dict[str, Any]) -> None:
        del document["paths"]["/billing/charge/{charge_id}"]["delete"]["responses"]["200"]

    (finding,) = check_pact(CONSUMER, changed(drop_ok))
    assert finding.interaction == ARCHIVE
    assert finding.location == "paths./billing/charge/{charge_id}.delete.responses"
    assert finding.reason.startswith(
        "the spec declares no 200 response for DELETE /billing/charge/{charge_id} (it declares 400,"
    )


def test_a_status_range_or_default_answers_a_status(changed: Any) -> None:
    def ranges(document: dict[str, Any]) -> None:
        responses = document["paths"]["/billing/charge/{charge_id}"]["delete"]["responses"]
        responses["2XX"] = responses.pop("200")
        listing = document["paths"]["/billing/charge/list"]["get"]["responses"]
        listing["default"] = listing.pop("200")

    assert check_pact(CONSUMER, changed(ranges)) == []


def test_a_path_parameter_narrowed_names_the_calls_whose_value_no_longer_fits(
    changed: Any,
) -> None:
    def narrow(document: dict[str, Any]) -> None:
        document["components"]["parameters"]["ChargeIdPath"]["schema"]["pattern"] = "^ch_[0-9]+$"

    (finding,) = check_pact(CONSUMER, changed(narrow))
    assert finding.interaction == ARCHIVE
    assert finding.location == "components.parameters.ChargeIdPath.schema.pattern"
    assert finding.reason.startswith(f'path parameter charge_id: "{CHARGE_ID}" does not match')


# ---------- requests: parameters and bodies ----------


@pytest.fixture(scope="module")
def decoda() -> OpenApiDocument:
    return load_spec(str(DECODA))


def _reasons(interaction: Interaction, spec: OpenApiDocument) -> list[str]:
    return [finding.reason for finding in check_interaction(interaction, spec)]


def test_query_values_are_typed_as_their_schema_says(decoda: OpenApiDocument) -> None:
    def listing(query: dict[str, list[str]]) -> Interaction:
        return _interaction(0, "GET", "/v1/charge/list", 200, query=query, expected=[])

    assert _reasons(listing({"n": ["5"], "sort_direction": ["asc"]}), decoda) == []
    assert _reasons(listing({"n": ["five"]}), decoda) == [
        'query parameter n: "five" is a string, not an integer'
    ]
    assert _reasons(listing({"status": ["SETTLED"]}), decoda)[0].startswith(
        'query parameter status: "SETTLED" is not one of OUTSTANDING, PAID'
    )


def test_a_query_parameter_the_spec_does_not_declare_is_named(decoda: OpenApiDocument) -> None:
    listing = _interaction(0, "GET", "/v1/charge/list", 200, query={"page": ["2"]}, expected=[])
    (finding,) = check_interaction(listing, decoda)
    assert finding.location == "paths./v1/charge/list.get.parameters"
    assert (
        finding.reason == "the spec does not declare query parameter page, which the consumer sends"
    )


def test_a_required_body_or_field_not_sent_is_named(decoda: OpenApiDocument) -> None:
    without_body = _interaction(0, "POST", "/billing/adjustment/create", 200)
    assert _reasons(without_body, decoda) == ["the spec requires a request body, which is not sent"]
    without_amount = _interaction(
        0, "POST", "/billing/adjustment/create", 200, body={"chargeId": CHARGE_ID, "reason": "x"}
    )
    (finding,) = check_interaction(without_amount, decoda)
    assert finding.location == "components.schemas.AdjustmentCreate.required"
    assert finding.reason == "request body $: required field amount is not sent"


def test_a_body_value_the_schema_refuses_is_named(decoda: OpenApiDocument) -> None:
    adjust = _interaction(
        0,
        "POST",
        "/billing/adjustment/create",
        200,
        body={"chargeId": CHARGE_ID, "amount": "-250", "reason": ""},
    )
    assert sorted(_reasons(adjust, decoda)) == [
        'request body $.amount: "-250" is a string, not an integer',
        'request body $.reason: "" is shorter than 1 character',
    ]


def test_a_body_media_type_the_spec_does_not_take_is_named(decoda: OpenApiDocument) -> None:
    adjust = _interaction(
        0, "POST", "/billing/adjustment/create", 200,
        headers={"Content-Type": "text/xml"}, body="<adjustment/>",
    )  # fmt: skip
    (finding,) = check_interaction(adjust, decoda)
    assert finding.location == "paths./billing/adjustment/create.post.requestBody.content"
    assert finding.reason == (
        "the spec has no text/xml body for the request (it has application/json)"
    )


def test_credentials_are_not_parameters_a_pact_must_list() -> None:
    """Decoda's published spec lists TENANT and API-KEY as required headers, with no security
    scheme: the key is a credential; a pact that lists headers must still send TENANT."""
    spec = _vendor("decoda-openapi-current.yaml")
    with_tenant = _interaction(
        0, "GET", f"/billing/charge/get/{CHARGE_ID}", 200, headers={"TENANT": "acme"}
    )
    without_tenant = _interaction(
        1, "GET", f"/billing/charge/get/{CHARGE_ID}", 200, headers={"Accept": "application/json"}
    )
    no_headers = _interaction(2, "GET", f"/billing/charge/get/{CHARGE_ID}", 200)
    assert _reasons(with_tenant, spec) == []
    assert _reasons(without_tenant, spec) == ["required header TENANT is not sent"]
    assert _reasons(no_headers, spec) == []


def test_deep_objects_arrays_and_bracketed_query_forms() -> None:
    mycure = load_spec(str(ROOT / "openapi" / "mycure-billing-soas.yaml"))

    def find(query: dict[str, list[str]]) -> list[Finding]:
        return check_interaction(
            _interaction(0, "GET", "/billing-soas", 200, query=query, expected=[]), mycure
        )

    sent = {"$limit": ["#20"], "$sort[createdAt]": ["-1"], "$select": ["type", "customer"],
            "type[$in][0]": ["organization"]}  # fmt: skip
    assert find(sent) == []
    (sort,) = find({"$sort[createdAt]": ["up"]})
    assert sort.location == "paths./billing-soas.get.parameters.2.schema.additionalProperties.enum"
    assert (
        sort.reason
        == 'query parameter $sort.createdAt: "up" is not one of 1, -1, #1, #-1 (the enum)'
    )
    (select,) = find({"$select": ["#nope"]})
    assert select.reason.startswith('query parameter $select[*]: "#nope" does not match')


def test_a_form_body_is_read_as_the_fields_its_schema_describes() -> None:
    candid = load_spec(str(ROOT / "openapi" / "candid-write-offs.yaml"))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    token = {"access_token": "eyJ.x.y", "expires_in": 18000, "token_type": "Bearer"}

    def sign_in(body: str) -> list[str]:
        interaction = _interaction(
            0, "POST", "/api/auth/v2/token", 200, headers=form, body=body, expected=token
        )
        return _reasons(interaction, candid)

    assert sign_in("client_id=acme&client_secret=s3cret") == []
    assert sign_in("client_id=acme") == ["request body $: required field client_secret is not sent"]


# ---------- OpenAPI 3.0, references, servers, bounds ----------


def _write(tmp_path: Path, document: dict[str, Any], name: str = "spec.json") -> OpenApiDocument:
    path = tmp_path / name
    path.write_bytes(orjson.dumps(document))
    return load_spec(str(path))


def _toy(version: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One operation, `GET /api/v1/things/{id}`, answering `schema`."""
    return {
        "openapi": version,
        "info": {"title": "toy", "version": "1"},
        "paths": {
            "/things/{id}": {
                "get": {
                    "parameters": [{"name": "id", "in": "path", "required": True,
                                    "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "ok",
                                "content": {"application/json": {"schema": schema}}}
                    },
                }
            },
            "/things/latest": {"get": {"responses": {"204": {"description": "none"}}}},
        },
        **extra,
    }  # fmt: skip


def _thing(expected: Any, path: str = "/things/t1", status: int = 200) -> Interaction:
    return _interaction(0, "GET", path, status, expected=expected)


def test_openapi_30_nullable_and_boolean_exclusive_bounds(tmp_path: Path) -> None:
    schema = {
        "type": "object",
        "properties": {
            "note": {"type": "string", "nullable": True},
            "owner": {"nullable": True, "allOf": [{"$ref": "#/components/schemas/Owner"}]},
            "score": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
        },
    }
    owner = {"type": "object", "properties": {"id": {"type": "string"}}}
    spec = _write(tmp_path, _toy("3.0.3", schema, components={"schemas": {"Owner": owner}}))
    assert _reasons(_thing({"note": None, "owner": None, "score": 0.5}), spec) == []
    assert _reasons(_thing({"score": 0}), spec) == [
        "response body $.score: 0 is less than or equal to the minimum of 0"
    ]
    (finding,) = check_interaction(_thing({"owner": {"id": 7}}), spec)
    assert finding.location == "components.schemas.Owner.properties.id.type"


def test_recursive_schemas_and_reference_cycles_end(tmp_path: Path) -> None:
    node = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
        },
    }
    schemas = {"Node": node, "Loop": {"$ref": "#/components/schemas/Again"},
               "Again": {"$ref": "#/components/schemas/Loop"}}  # fmt: skip
    spec = _write(tmp_path, _toy("3.1.0", {"$ref": "#/components/schemas/Node"},
                                 components={"schemas": schemas}))  # fmt: skip
    tree = {"name": "root", "children": [{"name": "leaf", "children": [], "colour": "red"}]}
    (finding,) = check_interaction(_thing(tree), spec)
    assert (
        finding.reason
        == "the spec no longer declares $.children[*].colour, which the consumer expects"
    )
    # A reference that only leads back to itself admits anything: the check cannot say more.
    looping = _write(tmp_path, _toy("3.1.0", {"$ref": "#/components/schemas/Loop"},
                                    components={"schemas": schemas}), "loop.json")  # fmt: skip
    assert _reasons(_thing({"any": "thing"}), looping) == []


def test_a_body_too_deep_is_checked_down_to_the_limit_and_says_so(tmp_path: Path) -> None:
    node = {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Node"}}}
    spec = _write(tmp_path, _toy("3.1.0", {"$ref": "#/components/schemas/Node"},
                                 components={"schemas": {"Node": node}}))  # fmt: skip
    deep: dict[str, Any] = {}
    for _ in range(200):
        deep = {"next": deep}
    (finding,) = check_interaction(_thing(deep), spec)
    assert "too large or too deep to check in full" in finding.reason


def test_findings_per_interaction_are_bounded(tmp_path: Path) -> None:
    spec = _write(tmp_path, _toy("3.1.0", {"type": "object", "properties": {"id": {}}}))
    findings = check_interaction(_thing({f"field{n}": n for n in range(30)}), spec)
    assert len(findings) == MAX_FINDINGS_PER_INTERACTION + 1
    assert findings[-1].reason == "10 more findings left out"


def test_literal_segments_win_over_templated_ones(tmp_path: Path) -> None:
    spec = _write(tmp_path, _toy("3.1.0", {"type": "object"}))
    # `/things/latest` answers 204 only: matched as the templated path, 204 would be missing.
    assert _reasons(_thing(None, "/things/latest", 204), spec) == []
    assert _reasons(_thing(None, "/things/t1", 204), spec) == [
        "the spec declares no 204 response for GET /things/{id} (it declares 200)"
    ]


def test_a_server_path_prefix_is_matched_with_and_without_it(tmp_path: Path) -> None:
    servers = [{"url": "https://api.example.com/api/v1"}]
    spec = _write(tmp_path, _toy("3.1.0", {"type": "object"}, servers=servers))
    assert spec.server_prefixes == ("/api/v1",)
    assert _reasons(_thing({}, "/api/v1/things/t1"), spec) == []
    assert _reasons(_thing({}, "/things/t1"), spec) == []
    assert _reasons(_thing({}, "/api/v2/things/t1"), spec) == [
        "no operation answers GET /api/v2/things/t1"
    ]


def test_one_of_reports_the_closest_branch_or_the_types_allowed(tmp_path: Path) -> None:
    schema = {
        "type": "object",
        "properties": {
            "amount": {"oneOf": [{"type": "integer"}, {"type": "null"}]},
            "kind": {"oneOf": [{"type": "string", "enum": ["a", "b"]}, {"type": "null"}]},
        },
    }
    spec = _write(tmp_path, _toy("3.1.0", schema))
    assert _reasons(_thing({"amount": None, "kind": "a"}), spec) == []
    assert _reasons(_thing({"amount": "7", "kind": "c"}), spec) == [
        'response body $.amount: "7" is none of the shapes the spec allows (integer or null)',
        'response body $.kind: "c" is not one of a, b (the enum)',
    ]


# ---------- loading: what fails, and how it says so ----------


def test_spec_files_that_cannot_be_read_say_why(tmp_path: Path) -> None:
    swagger = tmp_path / "swagger.json"
    swagger.write_text('{"swagger": "2.0", "paths": {}}')
    not_yaml = tmp_path / "broken.yaml"
    not_yaml.write_text("openapi: 3.1.0\npaths: [unclosed\n")
    not_openapi = tmp_path / "plain.yaml"
    not_openapi.write_text("name: not a spec\n")
    cases = {
        str(tmp_path / "absent.yaml"): "no such file",
        str(tmp_path): "is a directory, not a spec file",
        str(swagger): "is Swagger 2.0, which the check does not read",
        str(not_yaml): "is neither JSON nor YAML (line 3, column 1)",
        str(not_openapi): "is not an OpenAPI 3.0 or 3.1 document (its `openapi` field is missing)",
    }
    for source, reason in cases.items():
        with pytest.raises(SpecUnreadable) as raised:
            load_spec(source)
        assert str(raised.value).startswith(f"{source}: {reason}")


def test_a_spec_file_over_the_size_cap_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openapi, "MAX_SPEC_BYTES", 1024 * 1024)
    big = tmp_path / "big.yaml"
    big.write_text("openapi: 3.1.0\n" + "#" * (1024 * 1024) + "\n")
    with pytest.raises(SpecUnreadable, match="is larger than 1 MB"):
        load_spec(str(big))


class _SpecServer(BaseHTTPRequestHandler):
    spec = (ROOT / "openapi" / "candid-write-offs.yaml").read_bytes()

    def do_GET(self) -> None:  # the name http.server calls
        if self.path == "/spec.yaml":
            self._answer(200, self.spec)
        elif self.path == "/moved":
            self._answer(302, b"", location="/spec.yaml")
        elif self.path == "/loop":
            self._answer(302, b"", location="/loop")
        elif self.path == "/big":
            self._answer(200, b"openapi: 3.1.0\n" + b"#" * (2 * 1024 * 1024))
        else:
            self._answer(404, b"not here")

    def _answer(self, status: int, body: bytes, location: str | None = None) -> None:
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # http.server names it so
        pass


@pytest.fixture(scope="module")
def spec_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SpecServer)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_spec_loads_from_a_url_following_redirects(spec_server: str) -> None:
    for path in ("/spec.yaml", "/moved"):
        spec = load_spec(spec_server + path)
        assert spec.title.startswith("Candid Health write-offs")
        assert spec.match("GET", "/api/write-offs/v1") is not None


def test_a_url_that_cannot_give_a_spec_says_why(
    spec_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openapi, "MAX_SPEC_BYTES", 1024 * 1024)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/spec.yaml"
    cases = {
        spec_server + "/gone": "answered HTTP 404 Not Found",
        spec_server + "/loop": "redirects more than 5 times",
        spec_server + "/big": "is larger than 1 MB",
        closed: "unreachable: ",
    }
    for source, reason in cases.items():
        with pytest.raises(SpecUnreadable) as raised:
            load_spec(source)
        assert str(raised.value).startswith(f"{source}: {reason}")
