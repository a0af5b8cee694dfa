"""A toy API with one spec and a handlers module made on the fly, to test the core with."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from billing_sandbox.api import Api, Call
from billing_sandbox.errors import ApiError
from billing_sandbox.pipeline.routes import build_routes
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.settings import Settings
from billing_sandbox.spec.document import Spec

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
