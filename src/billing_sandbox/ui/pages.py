"""The dashboard's pages under `/_sandbox/ui/`: HTML shells rendered with Jinja2, filled in the
browser by `static/dashboard.js` from the control API, which stays the one way to read and
change the sandbox. The pages answer whom the control API answers: loopback clients, or
anyone holding the control token (entered once on the sign-in page, kept in a cookie)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from billing_sandbox.asgi.limits import BodyTooLarge, check_declared, read_within
from billing_sandbox.control import access
from billing_sandbox.errors import Forbidden, Unauthenticated
from billing_sandbox.sandbox import Sandbox

BASE = "/_sandbox/ui"
# Each page: its path below BASE, its template, and its name in the navigation.
PAGES = (
    ("/", "overview.html", "Overview"),
    ("/requests", "requests.html", "Requests"),
    ("/tenants", "tenants.html", "Tenants"),
    ("/records", "records.html", "Records"),
    ("/faults", "faults.html", "Faults"),
    ("/events", "events.html", "Events"),
)
_LOGIN_FORM_BYTES = 4096  # a token and a path; anything longer is not a sign-in
# Nothing of the dashboard is framed by another site, and only its own script runs.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@cache
def environment() -> Environment:
    """The dashboard's templates, which the root page (`GET /`) shares."""
    return Environment(
        loader=PackageLoader("billing_sandbox.ui", "templates"),
        # Everything a record or a request holds is shown as text, never as markup.
        autoescape=select_autoescape(default=True),
    )


def routes(sandbox: Sandbox, about_at: Callable[[str], dict[str, Any]]) -> list[BaseRoute]:
    """The dashboard's routes, for one server's sandbox; `about_at(base)` says what the server
    serves, its links beginning with `base` (the URL the browser reached it at)."""
    templates = Jinja2Templates(env=environment())

    def page(template: str) -> Any:
        async def show(request: Request) -> Response:
            refused = _refusal(request, sandbox, templates)
            if refused is not None:
                return refused
            base_url = str(request.base_url).rstrip("/")
            context = {
                "about": about_at(base_url),
                "facts": _facts(sandbox),
                "metrics": sandbox.metrics is not None,  # the overview's charts read them
                "pages": PAGES,
                "base": BASE,
                "current": request.url.path.removeprefix(BASE) or "/",
            }
            response = templates.TemplateResponse(request, template, context)
            response.headers.update(SECURITY_HEADERS)
            return response

        return show

    async def sign_in(request: Request) -> Response:
        return await _sign_in(request, sandbox, templates)

    async def to_overview(request: Request) -> Response:
        return RedirectResponse(BASE + "/", status_code=308)

    return [
        Route(BASE, to_overview),
        Mount(
            BASE,
            routes=[
                *(Route(path, page(template)) for path, template, _ in PAGES),
                Route("/sign-in", sign_in, methods=["GET", "POST"]),
                Mount("/static", StaticFiles(packages=[("billing_sandbox.ui", "static")])),
            ],
        ),
    ]


def _facts(sandbox: Sandbox) -> list[tuple[str, str]]:
    """The server's settings that matter to someone looking at it."""
    settings = sandbox.settings
    control = "anyone with the control token" if settings.control_token else "this machine only"
    return [
        ("seed", str(settings.seed)),
        ("tenants held in memory, at most", str(settings.max_tenants)),
        ("response validation", "on" if settings.response_validation else "off"),
        ("control API and dashboard", control),
        ("strict credentials", "on" if sandbox.credentials is not None else "off (any work)"),
        ("journal", f"the latest {settings.journal_size} requests"),
    ]


def _refusal(request: Request, sandbox: Sandbox, templates: Jinja2Templates) -> Response | None:
    """None when the control API would let this client in; else the sign-in page (401) or a
    page saying why not (403)."""
    try:
        access.authenticate(request, sandbox)
    except Unauthenticated:
        return _sign_in_page(request, templates, 401, "")
    except Forbidden as refusal:
        context = {"message": refusal.message, "base": BASE}
        response = templates.TemplateResponse(request, "refused.html", context, status_code=403)
        response.headers.update(SECURITY_HEADERS)
        return response
    return None


def _sign_in_page(
    request: Request,
    templates: Jinja2Templates,
    status: int,
    problem: str,
    wanted: str | None = None,
) -> Response:
    """The sign-in form; it goes back to `wanted` (by default, the page asked for)."""
    wanted = wanted or (request.url.path if request.method == "GET" else BASE + "/")
    context = {"base": BASE, "next": _local(wanted), "problem": problem}
    response = templates.TemplateResponse(request, "sign-in.html", context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


async def _sign_in(request: Request, sandbox: Sandbox, templates: Jinja2Templates) -> Response:
    """GET: the form. POST: the control token, checked, then kept in an HttpOnly, SameSite=Strict
    cookie; the browser goes back to the page it wanted."""
    if request.method == "GET" or not sandbox.settings.control_token:
        if not sandbox.settings.control_token:
            return RedirectResponse(BASE + "/", status_code=303)  # nothing to sign in to
        return _sign_in_page(request, templates, 200, "")
    origin = request.headers.get("origin")
    if origin is not None and not access.is_own_page(request, origin, sandbox):
        return _sign_in_page(request, templates, 403, "sign in from the dashboard's own page")
    try:
        # By its declared length first: a client that promises more and sends it slowly
        # must not hold the request while it does.
        check_declared(request.scope, _LOGIN_FORM_BYTES)
        body = await read_within(request.stream(), _LOGIN_FORM_BYTES)
    except BodyTooLarge:
        response = _sign_in_page(request, templates, 413, "that is not a sign-in form")
        response.headers["connection"] = "close"  # the rest of the body is not wanted
        return response
    form = parse_qs(body.decode("utf-8", "replace"))
    token = form.get("token", [""])[0].strip()
    wanted = _local(form.get("next", [BASE + "/"])[0])
    if not access.token_matches(token, sandbox):
        problem = "that is not the control token" if token else "enter the control token"
        return _sign_in_page(request, templates, 401, problem, wanted)
    response = RedirectResponse(wanted, status_code=303)
    response.set_cookie(
        access.CONTROL_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


def _local(path: str) -> str:
    """A dashboard path to go back to; anything else (another site) is the overview."""
    if path.startswith(BASE + "/") and "//" not in path and "\\" not in path:
        return path
    return BASE + "/"
