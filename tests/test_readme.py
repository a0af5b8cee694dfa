"""The README stays true: its commands are the ones CI runs, and its walk-throughs work.

The README is checked here, block by block; the pages of `docs/` in tests/test_docs.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from billing_sandbox.testing import SandboxServer

# The pytest plugin's example runs as a project of its own would run it, under `pytester`.
pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_readme_starts_with_the_two_set_up_commands() -> None:
    serve, test = code_blocks("bash")[:2]
    assert README.index(serve) < README.index("## Candid Health write-offs")
    assert serve.strip().endswith("billing-sandbox serve")
    assert "pytest" in test


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_command = code_blocks("bash")[1].strip()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_candid_sdk_snippet_runs_against_a_live_sandbox(billing_sandbox: SandboxServer) -> None:
    [snippet] = [block for block in code_blocks("python") if "CandidApiClientEnvironment" in block]
    script = snippet.replace("http://127.0.0.1:8000", billing_sandbox.url)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "patient 1250" in done.stdout


def test_candid_curl_walk_through_runs_against_a_live_sandbox(
    billing_sandbox: SandboxServer,
) -> None:
    [walk] = [block for block in code_blocks("bash") if "/api/auth/v2/token" in block]
    script = walk.replace("BASE=http://127.0.0.1:8000", f"BASE={billing_sandbox.url}")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    page = json.loads(done.stdout)
    amounts = [item["amount_cents"] for item in page["items"]]
    assert len(amounts) == 2 and amounts == sorted(amounts)


def test_decoda_curl_walk_through_runs_against_a_live_sandbox(
    billing_sandbox: SandboxServer,
) -> None:
    [walk] = [block for block in code_blocks("bash") if "/user/patient/create" in block]
    script = walk.replace("BASE=http://127.0.0.1:8000", f"BASE={billing_sandbox.url}")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # The script prints the refund, then the timeline: two JSON documents back to back.
    decoder = json.JSONDecoder()
    refund, end = decoder.raw_decode(done.stdout)
    events, _ = decoder.raw_decode(done.stdout[end:].lstrip())
    assert (refund["amount"], refund["reason"]) == (2000, "OTHER")
    assert [e["type"] for e in events] == ["CHARGE", "EXTERNAL_SETTLEMENT", "REFUND"]
    assert events[0]["amount"] == 9300


def test_mycure_curl_walk_through_runs_against_a_live_sandbox(
    billing_sandbox: SandboxServer,
) -> None:
    [walk] = [block for block in code_blocks("bash") if "/authentication" in block]
    script = walk.replace("BASE=http://127.0.0.1:8000", f"BASE={billing_sandbox.url}")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # The script prints the find, the finalized statement, then the deleted one.
    decoder = json.JSONDecoder()
    documents, rest = [], done.stdout
    while rest.strip():
        document, end = decoder.raw_decode(rest.lstrip())
        documents.append(document)
        rest = rest.lstrip()[end:]
    found, finalized, deleted = documents
    assert len(found) == 3
    assert found[0] == {"id": finalized["id"], "customer": "5eb00000000000000000cc01",
                        "paymentTerms": 30}  # fmt: skip
    assert set(found[1]) <= {"id", "customer", "paymentTerms"}
    assert finalized["finalizedBy"] == finalized["createdBy"]
    assert (finalized["customerType"], finalized["customerSubtype"]) == ("insurance", "hmo")
    assert deleted == finalized


def test_pytest_plugin_example_passes_in_a_project_of_its_own(pytester: pytest.Pytester) -> None:
    # .ci/package-check finds the same block after this sentence, and runs it from the wheel.
    intro = "An example, `tests/test_billing.py` in your project:"
    [example] = [block for block in code_blocks("python") if "sandbox_tenant" in block]
    assert README.index(intro) < README.index(example)
    pytester.makepyfile(test_billing=example)
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_readme_links_reach_a_file_and_its_heading() -> None:
    """The README is read on a forge, not in the docs site: its links are checked here."""
    links = re.findall(r"\]\(((?!https?:)[^)#\s]+)(?:#([^)\s]+))?\)", README)
    assert links
    for target, anchor in links:
        assert (ROOT / target).is_file(), target
        if anchor:
            headings = re.findall(r"^#+ (.+)$", (ROOT / target).read_text(), flags=re.MULTILINE)
            slugs = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}
            assert anchor in slugs, f"{target}#{anchor}"


def test_readme_stays_short() -> None:
    """The README is the first page a newcomer reads; the rest lives in docs/."""
    assert len(README.splitlines()) <= 250
