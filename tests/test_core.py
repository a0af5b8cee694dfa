"""The spec-driven core, through a toy API: drift checks, parsing, and response validation."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from billing_sandbox.api import Api, Call
from billing_sandbox.errors import ApiError
from billing_sandbox.routing import SpecDrift, bind_handlers, build_routes, handler_name
from billing_sandbox.settings import Settings
from billing_sandbox.spec.document import Spec
from billing_sandbox.tenancy import Sandbox

TOY_SPEC = """
openapi: 3.1.0
info: {title: toy, version: "1"}
paths:
  /things/{thing_id}:
    get:
      operationId: getThing
      parameters:
        - {name: thing_id, in: path, required: true, schema: {type: integer, minimum: 1}}
        - {name: tags, in: query, schema: {type: array, items: {type: string, enum: [a, b]}}}
        - {name: verbose, in: query, schema: {type: boolean, default: false}}
        - {name: X-Page-Size, in: header, schema: {type: integer, maximum: 50}}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: object
                required: [id]
                properties: {id: {type: integer}, tags: {type: array}, verbose: {type: boolean}}
        "422": {description: bad, content: {application/json: {schema: {type: object}}}}
        "500": {description: bug, content: {application/json: {schema: {type: object}}}}
    delete:
      operationId: deleteThing
      parameters:
        - {name: thing_id, in: path, required: true, schema: {type: integer}}
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: object}}}}
        "500": {description: bug, content: {application/json: {schema: {type: object}}}}
"""


def toy_handlers(**overrides: Any) -> types.ModuleType:
    module = types.ModuleType("toy_handlers")

    async def get_thing(call: Call[None]) -> Any:
        return {"id": call.path["thing_id"], **call.query}

    async def delete_thing(call: Call[None]) -> Any:
        return {"id": "not an integer"}  # breaks nothing: the schema is any object

    for fn in (get_thing, delete_thing):
        fn.__module__ = module.__name__
        setattr(module, fn.__name__, fn)
    for name, fn in overrides.items():
        fn.__module__ = module.__name__
        setattr(module, name, fn)
    return module


def render(error: ApiError) -> tuple[int, dict[str, Any]]:
    return error.status, {"kind": type(error).__name__, "message": error.message}


def toy_app(tmp_path: Path, handlers: types.ModuleType, validate: bool = True) -> Starlette:
    (tmp_path / "toy.yaml").write_text(TOY_SPEC)
    settings = Settings(specs_dir=tmp_path, response_validation=validate)
    api = Api(name="toy", title="Toy", spec_file="toy.yaml", handlers=handlers, render_error=render)
    spec = Spec(tmp_path / "toy.yaml")
    return Starlette(routes=build_routes(api, spec, Sandbox(settings, {}, {"toy": spec})))


async def call(app: Starlette, method: str, url: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.request(method, url)


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
    from billing_sandbox.app import CONTROL_API, VENDOR_ACTIONS

    for api in (*VENDOR_APIS, CONTROL_API):
        spec = Spec(Settings().specs_dir / api.spec_file)
        more = VENDOR_ACTIONS if api is CONTROL_API else ()
        assert set(bind_handlers(api, spec, more)) == {op.operation_id for op in spec.operations}


@pytest.mark.anyio
async def test_query_is_typed_with_arrays_and_defaults(tmp_path: Path) -> None:
    response = await call(toy_app(tmp_path, toy_handlers()), "GET", "/things/7?tags=a&tags=b")
    assert response.json() == {"id": 7, "tags": ["a", "b"], "verbose": False}


@pytest.mark.anyio
async def test_header_parameters_are_typed_and_checked(tmp_path: Path) -> None:
    async def get_thing(call: Call[None]) -> Any:
        return {"id": call.path["thing_id"], "size": call.headers["X-Page-Size"]}

    app = toy_app(tmp_path, toy_handlers(get_thing=get_thing))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        ok = await c.get("/things/7", headers={"x-page-size": "20"})
        too_big = await c.get("/things/7", headers={"X-Page-Size": "99"})
    assert ok.json() == {"id": 7, "size": 20}
    assert too_big.status_code == 422
    assert "X-Page-Size" in too_big.json()["message"]


@pytest.mark.anyio
async def test_bad_parameters_raise_the_apis_validation_error(tmp_path: Path) -> None:
    response = await call(
        toy_app(tmp_path, toy_handlers()), "GET", "/things/0?tags=c&verbose=maybe"
    )
    assert response.status_code == 422
    body = response.json()
    assert body["kind"] == "ValidationFailed"
    for field in ("thing_id", "tags[0]", "verbose"):
        assert field in body["message"]


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


def test_settings_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {"BILLING_SANDBOX_SEED": "7", "BILLING_SANDBOX_RESPONSE_VALIDATION": "off"}, port=9000
    )
    assert (settings.seed, settings.response_validation, settings.port) == (7, False, 9000)
