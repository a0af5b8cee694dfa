"""The official MYCURE JS SDK (`@mycure/sdk-js` 5.33.3, from npm) against a live sandbox.

`sdk/walk.js` signs in, creates, finds with operators (the SDK encodes the query itself),
patches with `$unset`, finalizes, deletes, and signs in again with the jwt strategy.
`sdk/watch.js` watches `find(...)` over a real socket.io-client 2 (Engine.IO 3) while another
client creates, finalizes and removes a statement over REST. The SDK and socket.io-client are
installed from the npm registry with `npm ci` (pinned by `sdk/package-lock.json`) into a
temporary directory. Node.js is on every machine we build on; in CI (`CI=true`) its absence
is a failure, elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from billing_sandbox.testing import SandboxServer
from tests.support.mycure_sdk import SDK_DIR, installed_sdk


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scripts = (SDK_DIR / "walk.js", SDK_DIR / "watch.js")
    return installed_sdk(tmp_path_factory, "mycure-sdk", scripts) / "walk.js"


@pytest.fixture(scope="module")
def steps(walk: Path, billing_sandbox: SandboxServer) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(walk), billing_sandbox.url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def watched(walk: Path, billing_sandbox: SandboxServer) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(walk.parent / "watch.js"), billing_sandbox.url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_sign_in_loads_the_account(steps: dict[str, Any]) -> None:
    assert steps["user"]["email"] == "sdk@clinic-sdk.test"
    assert steps["user"]["uid"] == steps["created"]["createdBy"]


def test_create_goes_through_the_sdks_cleaning(steps: dict[str, Any]) -> None:
    created = steps["created"]
    assert created["note"] == "trimmed by the SDK" and "template" not in created
    assert (created["customerType"], created["customerSubtype"]) == ("insurance", "hmo")


def test_find_with_the_sdks_encoded_query(steps: dict[str, Any]) -> None:
    items = steps["found"]["items"]
    assert len(items) == 2  # limit 2
    assert items[0] == {"id": steps["created"]["id"], "type": "organization", "paymentTerms": 30}
    assert all(set(item) == {"id", "type", "paymentTerms"} for item in items)
    assert steps["one"]["id"] == steps["created"]["id"]


def test_patch_unset_finalize_and_remove(steps: dict[str, Any]) -> None:
    assert "note" not in steps["unset"]
    finalized = steps["finalized"]
    assert finalized["finalizedBy"] == steps["user"]["uid"]
    assert steps["removed"] == finalized
    assert steps["afterRemove"] == {"name": "NotFound", "code": 404, "status": 404}


def test_jwt_strategy_signs_back_in(steps: dict[str, Any]) -> None:
    assert steps["reSignedIn"]["uid"] == steps["user"]["uid"]
    assert steps["reSignedIn"]["accessToken"]


def test_watch_sees_a_statement_created_finalized_and_removed(watched: dict[str, Any]) -> None:
    created, finalized, removed = watched["created"], watched["finalized"], watched["removed"]
    assert (created["status"], finalized["status"], removed["status"]) == (201, 200, 200)
    # Each list the watcher got has the record exactly as REST answered it (or no longer has it),
    # within a second of the REST call (watch.js gives up at 1000 ms).
    assert created["listed"] == created["body"] and created["count"] == watched["initial"] + 1
    assert finalized["listed"] == finalized["body"] and "finalizedAt" in finalized["listed"]
    assert removed["listed"] is None and removed["count"] == watched["initial"]
    assert max(created["ms"], finalized["ms"], removed["ms"]) < 1000
    assert watched["transport"] == "websocket"  # upgraded from polling, as a browser's socket is


def test_another_organisations_watcher_sees_none_of_it(watched: dict[str, Any]) -> None:
    assert watched["otherListsAfterSignIn"] == 0
