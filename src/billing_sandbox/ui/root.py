"""The root page (`GET /`, an operation of the control API): what the server serves, at the
base URL the client reached it by, so that its first calls run as they are: JSON, or, for a
browser, a page like the dashboard's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse

from billing_sandbox.api import Call
from billing_sandbox.ui.pages import BASE, PAGES, SECURITY_HEADERS, environment

# Where the server's base URL goes in what it says it serves (as in an API's first calls).
BASE_URL = "{base}"


async def get_root(call: Call[None]) -> Any:
    """The banner's facts: HTML for a browser, JSON for anyone else."""
    base = str(HTTPConnection(call.scope).base_url).rstrip("/")
    about = at_base(call.sandbox.about, base)
    if "text/html" not in call.accept:
        return about
    context = {"about": about, "server": base, "base": BASE, "pages": PAGES, "current": None}
    return HTMLResponse(
        environment().get_template("root.html").render(context), headers=SECURITY_HEADERS
    )


def at_base(about: Any, base: str) -> Any:
    """`about` (what the server serves, with `{base}` for its base URL) at `base`."""
    if isinstance(about, str):
        return about.replace(BASE_URL, base)
    if isinstance(about, Mapping):
        return {key: at_base(value, base) for key, value in about.items()}
    if isinstance(about, list | tuple):
        return [at_base(value, base) for value in about]
    return about
