"""`serve`'s traces: made as OpenTelemetry's `OTEL_*` variables ask, with the `otel` extra; when
they cannot be, said in one line and served without (never a traceback, never a refusal: the
variables are often set for every service of a machine, and traces are not what it serves)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import IO

from billing_sandbox.observe.cause import Tracing
from billing_sandbox.settings import InvalidSetting, traces_exporters

# billing-sandbox is on no public index: the extra comes from a checkout or a built wheel.
NOT_INSTALLED = (
    "the OTEL_* variables ask for traces, which need billing-sandbox[otel] ({missing} is not "
    "installed): `pip install -e '.[otel]'` in a checkout of billing-sandbox, or `pip install "
    "'dist/billing_sandbox-<version>-py3-none-any.whl[otel]'` from its built wheel; serving "
    "without traces"
)


def from_environment(
    environ: Mapping[str, str] | None = None, said: IO[str] | None = None
) -> Tracing | None:
    """The traces the variables ask for; None when they ask for none, or when they cannot be
    made (said on `said`, stderr by default)."""
    said = said or sys.stderr
    try:
        exporters = traces_exporters(environ)
    except InvalidSetting as error:
        print(f"billing-sandbox: {error}; serving without traces", file=said, flush=True)
        return None
    if not exporters:
        return None
    try:
        # Here, not at the top: without the variables, nothing of OpenTelemetry is imported.
        from billing_sandbox.observe import otel
    except ImportError as missing:
        name = missing.name or "opentelemetry"
        print(f"billing-sandbox: {NOT_INSTALLED.format(missing=name)}", file=said, flush=True)
        return None
    try:
        return otel.from_environment(exporters)
    except ValueError as refused:
        # The SDK checks its own variables (the batch sizes, the delays) as it starts.
        print(
            f"billing-sandbox: OpenTelemetry refused its OTEL_* settings ({refused}); serving "
            "without traces",
            file=said,
            flush=True,
        )
        return None
