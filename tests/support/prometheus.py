"""Debian's Prometheus as a real process for tests (`pytest -m prometheus`): our own binary on a
free loopback port with a throwaway database, never the package's service nor its port 9090."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.processes import free_port

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
INSTALL = "the prometheus tests need Debian's Prometheus: apt-get install prometheus"
START_SECONDS = 30
# A scrape every second: a value a test waits for shows up within a few of them.
SCRAPE_INTERVAL = "1s"


def promtool() -> str:
    if PROMTOOL is None:
        pytest.fail(INSTALL)
    return PROMTOOL


@contextmanager
def prometheus(
    work: Path, scrape_configs: list[dict[str, Any]], rule_files: Sequence[Path] = ()
) -> Iterator[str]:
    """Prometheus scraping `scrape_configs` (and evaluating `rule_files`) every second until the
    block ends: its base URL once it is ready. Its log goes to a file in `work`, which a
    failure shows: a pipe nobody reads would stall it."""
    if PROMETHEUS is None:
        pytest.fail(INSTALL)
    every = {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL}
    config = {"global": every, "rule_files": [str(path) for path in rule_files],
              "scrape_configs": scrape_configs}  # fmt: skip
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    command = [PROMETHEUS, f"--config.file={work / 'prometheus.yml'}",
               f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
               "--log.level=warn"]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    log = work / "prometheus.log"
    with log.open("w") as output:
        server = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _ready(base):
            assert server.poll() is None, f"Prometheus stopped: {log.read_text()}"
            assert time.monotonic() < deadline, f"Prometheus not ready: {log.read_text()}"
            time.sleep(0.2)
        yield base
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=15)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def query(base: str, promql: str) -> list[dict[str, Any]]:
    """An instant query's vector: each series' labels (`metric`) and `value` [time, "text"]."""
    answer = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
    answer.raise_for_status()
    body = answer.json()
    assert body["status"] == "success", body
    found: list[dict[str, Any]] = body["data"]["result"]
    return found


def wait_for(
    base: str,
    promql: str,
    done: Callable[[list[dict[str, Any]]], bool],
    seconds: float = 30,
) -> list[dict[str, Any]]:
    """Query `promql` until `done` holds for its result, within `seconds` (a few scrapes)."""
    deadline = time.monotonic() + seconds
    while True:
        result = query(base, promql)
        if done(result):
            return result
        assert time.monotonic() < deadline, f"{promql} never held: {result}"
        time.sleep(0.5)


def values(result: list[dict[str, Any]]) -> list[float]:
    return [float(series["value"][1]) for series in result]


def yaml_block(page: Path, holding: str) -> str:
    """The text of the one ```yaml block of a Markdown page that holds `holding`."""
    blocks = re.findall(r"^```yaml\n(.*?)^```$", page.read_text(), re.MULTILINE | re.DOTALL)
    found = [block for block in blocks if holding in block]
    assert len(found) == 1, f"{page} has {len(found)} yaml blocks holding {holding!r}"
    return str(found[0])
