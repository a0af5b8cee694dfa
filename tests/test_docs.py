"""The docs stay true: every code block is checked, the control-API page covers the spec, and
the site's nav lists every page (the README's own walk-throughs run in tests/test_readme.py)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from billing_sandbox.conformance.runner import INSTALL_HINT
from billing_sandbox.testing import SandboxServer

# The examples written as test modules run as a project of their own would run them.
pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted(DOCS.glob("**/*.md"))]
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

# Languages whose blocks are shown, not checked, and why. Anything not here and not checked
# below fails, so a new kind of block must be given a check (or a reason) first.
SHOWN_ONLY = {
    "text": "sample output to compare with (log lines, a benchmark's goal lines): not code",
}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    language: str
    code: str

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<language>[^`\s]*)[ \t]*$")


def fenced_blocks(page: Path) -> list[Block]:
    """Every fenced block of a Markdown page, indented ones (in a list item) dedented."""
    blocks: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        start, body = index, []
        while index < len(lines) and lines[index].strip() != fence:
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        assert index < len(lines), f"{page.relative_to(ROOT)}:{start}: a block is never closed"
        index += 1
        blocks.append(Block(page, start, opening["language"], "\n".join(body) + "\n"))
    return blocks


BLOCKS = [block for page in PAGES for block in fenced_blocks(page)]


def blocks_of(page: str, language: str, holding: str) -> list[str]:
    return [
        block.code
        for block in BLOCKS
        if block.page == ROOT / page and block.language == language and holding in block.code
    ]


def shell_check(shell: str, code: str) -> None:
    done = subprocess.run(
        [shell, "-n"], input=code, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr


def node_check(code: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: JavaScript blocks are checked where it is")
    # `.mjs`: the examples are ES modules (`import`, top-level `await`), as the SDK's users write.
    script = tmp_path / "example.mjs"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run(
        [node, "--check", str(script)], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.name)
def test_every_code_block_is_checked(block: Block, tmp_path: Path) -> None:
    language, code = block.language, block.code
    if language == "python":
        compile(code, block.name, "exec")
    elif language == "bash":
        shell_check("bash", code)
    elif language == "sh":
        shell_check("sh", code)
    elif language in ("yaml", "yml"):
        list(yaml.safe_load_all(code))
    elif language == "json":
        json.loads(code)
    elif language == "toml":
        tomllib.loads(code)
    elif language in ("js", "javascript"):
        node_check(code, tmp_path)
    elif language == "ts":
        # Type-checked against the built TypeScript client by its own tests (`npm test` in
        # clients/js: test/docs.test.mjs), which read this one page's blocks.
        assert block.page == DOCS / "typescript.md", (
            f"{block.name}: ```ts blocks are type-checked only on docs/typescript.md"
        )
    else:
        assert language in SHOWN_ONLY, (
            f"{block.name}: a ```{language} block has no check: add one to this test, "
            "or give the block a language that has one"
        )


def test_the_block_parser_finds_plain_indented_and_untagged_blocks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text.\n\n```bash\necho one\n```\n\n- an item:\n\n  ```python\n  if True:\n"
        "      pass\n  ```\n\n```\nno language\n```\n",
        encoding="utf-8",
    )
    found = [(block.line, block.language, block.code) for block in fenced_blocks(page)]
    assert found == [
        (3, "bash", "echo one\n"),
        (9, "python", "if True:\n    pass\n"),
        (14, "", "no language\n"),
    ]
    # And the pages hold every kind this test checks.
    assert {"bash", "python", "yaml", "json", "js", "text"} <= {b.language for b in BLOCKS}


# -- The control-API reference against the spec ---------------------------------------------

OPERATION_HEADING = re.compile(r"^### (GET|PUT|POST|DELETE|PATCH|HEAD|OPTIONS|TRACE) (/\S*)\s*$")


def documented_operations() -> list[tuple[str, str]]:
    page = (DOCS / "control-api.md").read_text(encoding="utf-8")
    return [
        (match[1], match[2])
        for match in map(OPERATION_HEADING.match, page.splitlines())
        if match is not None
    ]


def specified_operations() -> set[tuple[str, str]]:
    spec = yaml.safe_load((ROOT / "openapi" / "sandbox-control.yaml").read_text(encoding="utf-8"))
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def test_the_control_api_page_documents_every_operation_of_the_spec() -> None:
    missing = specified_operations() - set(documented_operations())
    assert not missing, f"docs/control-api.md lacks a `### METHOD /path` heading for {missing}"


def test_the_control_api_page_documents_nothing_the_spec_lacks() -> None:
    documented = documented_operations()
    extra = set(documented) - specified_operations()
    assert not extra, f"docs/control-api.md documents operations the spec lacks: {extra}"
    assert len(documented) == len(set(documented)), "an operation is documented twice"


# -- The site ---------------------------------------------------------------------------------


def nav_pages(entries: object) -> list[str]:
    """The Markdown files a MkDocs nav names, however deeply it nests sections."""
    if isinstance(entries, str):
        return [entries] if entries.endswith(".md") else []
    if isinstance(entries, list):
        return [page for entry in entries for page in nav_pages(entry)]
    if isinstance(entries, dict):
        return [page for value in entries.values() for page in nav_pages(value)]
    return []


def test_every_page_is_in_the_nav_and_the_nav_names_only_pages() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    in_nav = nav_pages(config["nav"])
    on_disk = {page.relative_to(DOCS).as_posix() for page in DOCS.glob("**/*.md")}
    assert set(in_nav) == on_disk
    assert len(in_nav) == len(set(in_nav)), "a page is in the nav twice"


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """A broken link or anchor, or a page out of the nav, fails the build (as in CI)."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


# -- Install instructions are honest: the package is on no public index ------------------------

# `pip install billing-sandbox…` (a name alone) asks an index for it; a path, `-e .` or a URL
# does not.
FROM_AN_INDEX = re.compile(r"pip install (?:--?[\w-]+ )*['\"]?billing[-_]sandbox\b")


@pytest.mark.parametrize(
    "source",
    [*PAGES, *sorted((ROOT / "src").glob("**/*.py"))],
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_no_page_or_message_installs_the_package_from_an_index(source: Path) -> None:
    found = FROM_AN_INDEX.findall(source.read_text(encoding="utf-8"))
    assert not found, f"{source.relative_to(ROOT)} installs billing-sandbox by name: {found}"


def test_the_conformance_hint_says_how_to_install_the_extra() -> None:
    assert "pip install -e '.[conformance]'" in INSTALL_HINT
    assert "whl[conformance]" in INSTALL_HINT
    assert not FROM_AN_INDEX.search(INSTALL_HINT)


# -- Examples cheap enough to run --------------------------------------------------------------


def test_plugin_example_of_the_testing_page_passes(pytester: pytest.Pytester) -> None:
    [example] = blocks_of("docs/testing.md", "python", "def test_")
    pytester.makepyfile(test_billing=example)
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_bad_days_example_passes(pytester: pytest.Pytester) -> None:
    [example] = blocks_of("docs/faults-and-time.md", "python", "Decoda's bad days")
    pytester.makepyfile(test_bad_days=example)
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_serve_example_runs() -> None:
    [example] = blocks_of("docs/testing.md", "python", "with serve() as sandbox")
    done = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")


def run_bash(script: str) -> list[object]:
    """Run a walk-through; the JSON documents it printed, in order."""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    decoder, documents, rest = json.JSONDecoder(), [], done.stdout.strip()
    while rest:
        document, end = decoder.raw_decode(rest)
        documents.append(document)
        rest = rest[end:].strip()
    return documents


def test_candid_curl_walk_through_of_the_candid_page_runs(billing_sandbox: SandboxServer) -> None:
    billing_sandbox.tenant("acme").reset()
    [walk] = blocks_of("docs/candid.md", "bash", "/api/auth/v2/token")
    page, created, reverted = run_bash(walk.replace("http://127.0.0.1:8000", billing_sandbox.url))
    assert isinstance(page, dict) and isinstance(created, dict) and isinstance(reverted, dict)
    assert len(page["items"]) == 5
    assert [w["amount_cents"] for w in created["write_offs"]] == [1250]
    assert reverted["reverts_write_off_id"] == "5e1f0000-0000-4000-8000-000000000401"
    assert reverted["amount_cents"] == -1250


def test_decoda_webhook_example_reaches_its_webhook(billing_sandbox: SandboxServer) -> None:
    """The walk-through, a webhook, then a triggered event: the webhook subscribes to it."""
    billing_sandbox.tenant("acme").reset()
    [walk] = blocks_of("docs/decoda.md", "bash", "/user/patient/create")
    [create] = blocks_of("docs/decoda.md", "bash", "/webhook/decoda/create")
    [trigger] = blocks_of("docs/decoda.md", "bash", "/decoda/events")
    script = (walk + create + trigger).replace("http://127.0.0.1:8000", billing_sandbox.url)
    *_, webhook, triggered, deliveries = run_bash(script)
    assert isinstance(webhook, dict) and isinstance(triggered, dict)
    assert isinstance(deliveries, dict)
    assert triggered["type"] == "PATIENT_CREATED" and triggered["eventId"] is not None
    assert len(triggered["deliveries"]) == 1
    assert deliveries["deliveries"][0]["webhookId"] == webhook["id"]


def test_the_contract_commands_of_the_contracts_page_parse() -> None:
    """Each `billing-sandbox contract …` line the page shows is one the command line takes
    (a flag renamed or removed fails here)."""
    from billing_sandbox.cli import parse_args

    shown = [
        line.strip().removeprefix(".venv/bin/").removeprefix("- run: ")
        for block in BLOCKS
        if block.page == DOCS / "contracts.md"
        for line in block.code.splitlines()
        if "billing-sandbox contract " in line
    ]
    assert len(shown) >= 4
    for line in shown:
        words = shlex.split(line[line.index("billing-sandbox contract ") :])
        args = parse_args(words[1:])
        assert args.command == "contract", line
