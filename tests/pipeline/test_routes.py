"""The route wrapper, through a toy API: drift checks at start, response validation, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from billing_sandbox.api import Call
from billing_sandbox.pipeline.routes import SpecDrift, bind_handlers, handler_name
from billing_sandbox.settings import Settings
from billing_sandbox.spec.document import Spec, load_spec
from tests.support.toy import call, toy_app, toy_handlers


def test_handler_names_are_snake_case_operation_ids() -> None:
    assert handler_name("getWriteOff") == "get_write_off"
    assert (
        handler_name("revert-insurance-balance-adjustment") == "revert_insurance_balance_adjustment"
    )
    assert handler_name("getWriteOffs") == "get_write_offs"


def test_startup_fails_when_an_operation_has_no_handler(tmp_path: Path) -> None:
    handlers = toy_handlers()
    del handlers.delete_thing
    with pytest.raises(SpecDrift, match="operation 'deleteThing' has no handler `delete_thing`"):
        toy_app(tmp_path, handlers)


def test_startup_fails_when_a_handler_has_no_operation(tmp_path: Path) -> None:
    async def rename_thing(call: Call[None]) -> Any:
        return {}

    with pytest.raises(SpecDrift, match=r"handler `rename_thing` .* has no operation"):
        toy_app(tmp_path, toy_handlers(rename_thing=rename_thing))


def test_every_real_api_binds_without_drift() -> None:
    from billing_sandbox.apis import VENDOR_APIS
    from billing_sandbox.app import CONTROL_API, CONTROL_MODULES

    for api in (*VENDOR_APIS, CONTROL_API):
        spec = Spec(Settings().specs_dir / api.spec_file)
        more = CONTROL_MODULES if api is CONTROL_API else ()
        assert set(bind_handlers(api, spec, more)) == {op.operation_id for op in spec.operations}


@pytest.mark.anyio
async def test_response_that_breaks_the_spec_is_a_loud_500(tmp_path: Path) -> None:
    async def get_thing(call: Call[None]) -> Any:
        return {"id": "seven"}

    app = toy_app(tmp_path, toy_handlers(get_thing=get_thing))
    response = await call(app, "GET", "/things/7")
    assert response.status_code == 500
    assert response.json()["kind"] == "SandboxBug"
    assert "getThing returned a 200 body that breaks its spec" in response.json()["message"]


@pytest.mark.anyio
async def test_response_validation_can_be_turned_off(tmp_path: Path) -> None:
    async def get_thing(call: Call[None]) -> Any:
        return {"id": "seven"}

    app = toy_app(tmp_path, toy_handlers(get_thing=get_thing), validate=False)
    response = await call(app, "GET", "/things/7")
    assert response.status_code == 200
    assert response.json() == {"id": "seven"}


@pytest.mark.anyio
async def test_a_crashing_handler_is_a_500_in_the_apis_envelope(tmp_path: Path) -> None:
    async def get_thing(call: Call[None]) -> Any:
        raise KeyError("boom")

    response = await call(toy_app(tmp_path, toy_handlers(get_thing=get_thing)), "GET", "/things/7")
    assert response.status_code == 500
    assert "sandbox bug" in response.json()["message"]


@pytest.mark.anyio
async def test_undeclared_method_is_405_listing_every_declared_one(tmp_path: Path) -> None:
    response = await call(toy_app(tmp_path, toy_handlers()), "PUT", "/things/7")
    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert {"GET", "DELETE"} <= allowed
    # In the API's own envelope, as every other error.
    assert "PUT is not allowed here" in response.json()["message"]


def test_decodas_legacy_webhook_operations_are_declared_aliases_of_the_current_ones() -> None:
    from billing_sandbox.apis.decoda import API as DECODA
    from billing_sandbox.apis.decoda import handlers

    spec = load_spec(Settings().specs_dir / DECODA.spec_file)
    bound = bind_handlers(DECODA, spec)
    legacy = [op_id for op_id in bound if op_id.endswith("V1") and "ebhook" in op_id]
    assert len(legacy) == 8, legacy
    for op_id in legacy:
        # One function under two names: the v1 operation cannot drift from the current one.
        assert bound[op_id] is bound[op_id.removesuffix("V1")], op_id
    assert handlers.get_webhook_v1 is handlers.get_webhook
