"""A real Prometheus (Debian's) scraping the sandbox, as a team's monitoring does (`pytest -m
prometheus`): `serve` with its control token, a cluster's shards and HAProxy's exporter, and
docs/monitoring.md's own scrape config and recording rules, which promtool checks too.
Every process is on loopback, on ports of its own, and stopped by its PID."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.cluster.test_cluster import cluster
from tests.support.processes import serving
from tests.support.prometheus import (
    prometheus,
    promtool,
    values,
    wait_for,
    yaml_block,
)

pytestmark = pytest.mark.prometheus

MONITORING = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"
TOKEN = "prometheus-test-control-token"
DECODA = {"TENANT": "scraped", "API-KEY": "any"}
LIST = "/billing/charge/list"  # Decoda's listCharges


def sum_of(base: str, promql: str, expected: float) -> list[dict[str, Any]]:
    return wait_for(base, promql, lambda result: values(result) == [expected])


def test_prometheus_scrapes_serve_with_its_token_and_records_the_docs_rules(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml_block(MONITORING, "groups:"))
    checked = subprocess.run(
        [promtool(), "check", "rules", str(rules)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout, checked.stdout

    with serving("--control-token", TOKEN) as (base, _):
        target = httpx.URL(base).netloc.decode()
        job = {"job_name": "sandbox", "metrics_path": "/_sandbox/metrics",
               "authorization": {"credentials": TOKEN},
               "static_configs": [{"targets": [target]}]}  # fmt: skip
        with prometheus(tmp_path, [job], [rules]) as server:
            total = 'sum(billing_sandbox_requests_total{operation="listCharges"})'
            # A counter's first sample is where a rate starts: the rest come after it, so that
            # the recorded rate sees them.
            assert httpx.get(f"{base}{LIST}", headers=DECODA).status_code == 200
            sum_of(server, total, 1)
            for _ in range(6):
                assert httpx.get(f"{base}{LIST}", headers=DECODA).status_code == 200
            sum_of(server, total, 7)
            recorded = 'api:billing_sandbox_requests:rate1m{api="decoda"}'
            wait_for(
                server, recorded, lambda result: bool(values(result)) and values(result)[0] > 0
            )

            exposition = httpx.get(
                f"{base}/_sandbox/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert exposition.status_code == 200
    linted = subprocess.run(
        [promtool(), "check", "metrics"],
        input=exposition.text,
        capture_output=True,
        text=True,
        timeout=30,
    )
    # A lint complaint (a counter without `_total`, a unit not a base one) exits 3 and is
    # printed: clean is exit 0 with nothing said.
    assert (linted.returncode, linted.stdout + linted.stderr) == (0, "")


def retargeted(scrape_configs: list[dict[str, Any]], port: int) -> list[dict[str, Any]]:
    """The docs' config, written for `--port 8000`, moved to a cluster on `port`: each
    target keeps its offset from the cluster's port (a shard, the exporter)."""

    def moved(target: re.Match[str]) -> str:
        return f"127.0.0.1:{port + int(target[1]) - 8000}"

    found: list[dict[str, Any]] = yaml.safe_load(
        re.sub(r"127\.0\.0\.1:(80\d\d)", moved, yaml.safe_dump(scrape_configs))
    )
    return found


def test_prometheus_scrapes_each_shard_and_haproxys_exporter(tmp_path: Path) -> None:
    documented = yaml.safe_load(yaml_block(MONITORING, "job_name: haproxy"))["scrape_configs"]
    with cluster(2, tmp_path / "state") as running:
        port = httpx.URL(running.url).port
        assert port is not None
        jobs = retargeted(documented, port)
        for job in jobs:
            job["scrape_interval"] = "1s"
        with prometheus(tmp_path, jobs) as server:
            by_shard = "count by (shard) (billing_sandbox_build_info)"
            found = wait_for(server, by_shard, lambda result: len(result) == 2)
            assert sorted(series["metric"]["shard"] for series in found) == ["shard0", "shard1"]
            exported = 'count({job="haproxy", __name__=~"haproxy_.+"})'
            assert wait_for(server, exported, lambda result: bool(values(result)))
            # Every target answered its last scrape: both shards and the exporter.
            assert values(wait_for(server, "up", lambda result: len(result) == 3)) == [1, 1, 1]
