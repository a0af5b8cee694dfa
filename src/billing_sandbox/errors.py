"""A small family of API errors: status + message; each API renders its own envelope."""

from __future__ import annotations

from dataclasses import dataclass

PathItem = str | int


@dataclass(frozen=True)
class Issue:
    """One thing wrong with a request: where it is, what is wrong, and a machine-readable kind.

    `location` is `path`, `query`, `header` or `body`; `path` leads from there to the field.
    """

    location: str
    path: tuple[PathItem, ...]
    message: str
    kind: str = "value_error"

    @property
    def field(self) -> str:
        """The field as Candid names it: `write_offs[0].amount_cents`, or the location."""
        text = ""
        for part in self.path:
            if isinstance(part, int):
                text += f"[{part}]"
            else:
                text += f".{part}" if text else str(part)
        return text or self.location


class ApiError(Exception):
    """Base of every error a handler, store or the route wrapper may raise."""

    status = 500
    # True for an error a fault injected (`Prefer: code=`, a fault rule) in the sandbox's place:
    # the metrics count it as the fault's, not as the client's mistake or the sandbox's.
    injected = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        """Headers the answer carries besides its body (a 429's `Retry-After`)."""
        return {}


class BadRequest(ApiError):
    """The request cannot be read at all (malformed JSON, oversize body)."""

    status = 400


class MalformedBody(BadRequest):
    """The body cannot be decoded (not JSON, not UTF-8) or is over the size limit."""


class Unauthenticated(ApiError):
    """Credentials are missing, malformed, unknown or expired."""

    status = 401


class Forbidden(ApiError):
    """The caller is known but may not touch what it named (another organisation's facility)."""

    status = 403


class NotFound(ApiError):
    """A referenced entity does not exist in the caller's tenant."""

    status = 404

    def __init__(self, entity: str, entity_id: str) -> None:
        super().__init__(f"{entity} {entity_id} does not exist")
        self.entity = entity
        self.entity_id = entity_id


class MethodNotAllowed(ApiError):
    """The path exists but not with this method; `allowed` becomes the `Allow` header."""

    status = 405

    def __init__(self, method: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"{method} is not allowed here; allowed: {', '.join(allowed)}")
        self.method = method
        self.allowed = allowed


class UnsupportedMediaType(ApiError):
    """The body's content type is not one the operation accepts."""

    status = 415


class Unprocessable(ApiError):
    """The request is well formed but breaks a business rule."""

    status = 422


class ValidationFailed(ApiError):
    """The request does not match the operation's schema; carries every issue found."""

    status = 422

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(f"{issue.field}: {issue.message}" for issue in issues))
        self.issues = issues


class RateLimited(ApiError):
    """Too many calls: the caller's bucket is empty; `retry_after` seconds until the next."""

    status = 429

    def __init__(self, message: str, retry_after: int, extra: dict[str, str] | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.extra = extra or {}

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after), **self.extra}


class GatewayFailure(ApiError):
    """What the infrastructure in front of a service answers on a bad day (502, 503, 504),
    whether or not the service behind it ever saw the call."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class StorageUnavailable(ApiError):
    """A change could not be written ahead to the state's log (a full disk, a lost volume):
    it is not carried out, and the client may try again later."""

    status = 503


class SandboxBug(ApiError):
    """The sandbox itself misbehaved (e.g. a response that breaks its own spec)."""

    status = 500


def json_path(path: tuple[PathItem, ...]) -> str:
    """`("items", 0, "amount_cents")` → `$.items[0].amount_cents`."""
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`1 rule`, `2 rules`: a count and its noun as a message says them (`plural` for a noun
    that does not just take an s: `counted(2, "delivery", "deliveries")`)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
