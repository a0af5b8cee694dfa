"""A logged API call carried out again at start: its handler, on its tenant's store, with the
tenant's clock pinned to the instant the call read (the write-ahead log's `call` records)."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from contextlib import suppress
from typing import Any

from billing_sandbox.api import Api, Call
from billing_sandbox.errors import ApiError
from billing_sandbox.pipeline.routes import bind_handlers
from billing_sandbox.pipeline.wrapper import Handler
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.spec.body import RAW_BODY
from billing_sandbox.state.changes import pinned


class CallReplayer:
    """Carries out logged calls of these APIs again (their handlers bound once)."""

    def __init__(self, apis: Sequence[Api], sandbox: Sandbox) -> None:
        self._apis = {api.name: api for api in apis}
        self._handlers: dict[str, dict[str, Handler]] = {}
        for api in apis:
            spec = sandbox.api_spec(api.name)
            if spec is not None:
                self._handlers[api.name] = bind_handlers(api, spec)

    def __call__(self, sandbox: Sandbox, record: dict[str, Any]) -> None:
        api = self._apis[record["api"]]
        handler = self._handlers[api.name][record["op"]]
        tenant_id: str = record["tenant"]
        tenant = sandbox.tenant(tenant_id)
        store = tenant.store(api.name) if api.store is not None else None
        query: str = record["qs"]
        call = Call(
            sandbox,
            tenant_id,
            store,
            record["path"],
            record["query"],
            record["headers"],
            record["body"],
            record["principal"],
            scope={"query_string": query.encode("latin-1"), "headers": [], RAW_BODY: b""},
        )

        def again() -> None:
            # Refused now, it was refused the first time too, and changed nothing then either.
            with suppress(ApiError):
                _run_at_once(handler(call))

        pinned(sandbox, tenant_id, record["at"], again)
        tenant.renders.clear()


def _run_at_once(awaitable: Awaitable[Any]) -> Any:
    """Run a handler that never waits (stores are synchronous; handlers await nothing that
    suspends) to its end, outside any event loop: the start is not async."""
    steps = awaitable.__await__()
    try:
        next(steps)
    except StopIteration as done:
        return done.value
    raise RuntimeError("a handler suspended while a logged call was carried out again")
