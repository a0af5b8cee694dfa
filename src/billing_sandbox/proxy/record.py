"""Writing recorded exchanges: one redacted YAML file per request and response, in the format
of `billing_sandbox.recordings` (which reads them)."""

from __future__ import annotations

import os
import re
from itertools import count
from pathlib import Path

import yaml

from billing_sandbox.recordings import Exchange

_SEQ = re.compile(r"^(\d+)-")


class Recorder:
    """Writes each exchange to its own file in `directory`, numbered on from the files already
    there, so recording twice into one directory keeps both sessions in order."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        taken = [int(m.group(1)) for p in directory.iterdir() if (m := _SEQ.match(p.name))]
        self._seq = count(max(taken, default=0) + 1)

    def write(self, exchange: Exchange) -> Path:
        name = f"{next(self._seq):06d}-{exchange.operation_id or 'unmatched'}-{exchange.status}"
        target = self.directory / f"{name}.yaml"
        text = yaml.safe_dump(exchange.as_json(), sort_keys=False, allow_unicode=True)
        # Written beside and renamed, so a reader never sees half a file. Synchronously: the
        # files are small and this is a development tool, not a hot path.
        partial = target.with_suffix(".yaml.partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
        return target
