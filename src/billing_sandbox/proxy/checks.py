"""Which operation of a spec a request is, and each way an upstream's response breaks it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson
from starlette.routing import compile_path

from billing_sandbox.errors import json_path
from billing_sandbox.spec.document import Operation, Spec

# At most this many violations of one response are kept (logged, journaled, recorded); a page
# of 100 drifted items would otherwise log hundreds of lines saying the same thing. The
# header's count is always the full one.
MAX_KEPT = 20
# The header must stay small: proxies and clients cap header sizes (often 8 KiB for all of them).
HEADER_LIMIT = 512
HEADER = "X-Billing-Sandbox-Violations"


@dataclass(frozen=True)
class Violation:
    """One way a response breaks the spec: the operation (or `METHOD /path` when none
    matches), where (`status`, `path`, `method`, `body` or a JSON path from `$`), and what."""

    operation: str
    field: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"operation": self.operation, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        return f"{self.operation} {self.field}: {self.message}"


class OperationIndex:
    """A spec's operations by path template, matched in the spec's order as the sandbox's own
    router matches them, so the proxy and the sandbox agree on which operation a URL is."""

    def __init__(self, spec: Spec, trailing_slash: bool = False) -> None:
        by_path: dict[str, dict[str, Operation]] = {}
        for op in spec.operations:
            by_path.setdefault(op.path, {})[op.method] = op
        self._paths: list[tuple[re.Pattern[str], dict[str, Operation]]] = []
        for path, ops in by_path.items():
            regex, _, _ = compile_path(path)
            # `\Z`, not `$`: a path ending in a newline must not match (see routing._exact);
            # APIs served under Express also take the path with a trailing slash.
            end = r"/?\Z" if trailing_slash and not path.endswith("/") else r"\Z"
            self._paths.append((re.compile(regex.pattern.removesuffix("$") + end), ops))

    def match(self, method: str, path: str) -> Operation | Violation:
        """The operation for `method path`, or the violation of calling one the spec lacks."""
        for regex, ops in self._paths:
            if regex.match(path):
                op = ops.get(method) or (ops.get("GET") if method == "HEAD" else None)
                if op is not None:
                    return op
                declared = ", ".join(sorted(ops))
                return Violation(
                    f"{method} {path}", "method", f"{method} is not declared here ({declared})"
                )
        return Violation(f"{method} {path}", "path", "no operation in the spec has this path")


def check_response(op: Operation, method: str, status: int, body: bytes) -> list[Violation]:
    """Every way `status` and `body` break what `op` declares (empty when they match)."""
    if status not in op.response_checks:
        declared = ", ".join(str(code) for code in sorted(op.response_checks))
        message = f"expected one of {declared}, got {status}"
        return [Violation(op.operation_id, "status", message)]
    check = op.response_checks[status]
    # No JSON schema declared for this status (a 204, a file): nothing to compare the body to.
    # A HEAD response has no body, by definition.
    if check is None or method == "HEAD":
        return []
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        message = f"expected a JSON body, got {len(body)} bytes that are not JSON"
        return [Violation(op.operation_id, "body", message)]
    return [
        Violation(op.operation_id, json_path(issue.path), issue.message)
        for issue in check.issues(document, "response")
    ]


def header_value(violations: list[Violation]) -> str:
    """`<count>; <op> <field>: <message>; …`: ASCII (header values are Latin-1 at best, and
    messages quote the upstream's values), one line, at most `HEADER_LIMIT` characters."""
    text = "; ".join([str(len(violations)), *(str(v) for v in violations)])
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text)  # no CR/LF: a header cannot be split
    return text if len(text) <= HEADER_LIMIT else text[: HEADER_LIMIT - 3] + "..."
