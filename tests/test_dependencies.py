"""Dependencies a user can live with: the runtime needs are what the code uses, the Engine.IO 3
line cannot displace a project's python-socketio 5, and CI's tools come pinned from one
constraints file, on Python 3.11 and 3.13."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(line) for line in PROJECT["dependencies"]]
CI_RUN = (ROOT / ".ci" / "run").read_text()


def constraints() -> dict[str, str]:
    """constraints.txt: each tool's name, and its specifier as written."""
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            pins[canonicalize_name(requirement.name)] = str(requirement.specifier)
    return pins


def runtime(name: str) -> list[Requirement]:
    return [r for r in RUNTIME if canonicalize_name(r.name) == canonicalize_name(name)]


def test_uvicorn_comes_without_its_standard_extra() -> None:
    [uvicorn] = runtime("uvicorn")
    assert uvicorn.extras == set(), "uvicorn[standard] brings watchfiles and python-dotenv"
    assert not runtime("watchfiles")
    assert not runtime("python-dotenv")


def test_what_the_server_uses_of_uvicorn_standard_is_declared() -> None:
    # httptools: the parser whose hooks bound a request head; websockets: MYCURE's socket.
    for name in ("httptools", "websockets", "uvloop"):
        assert runtime(name), name


def test_socket_io_comes_from_the_renamed_distributions() -> None:
    assert runtime("python-socketio-v4")
    assert runtime("python-engineio-v3")
    assert not runtime("python-socketio"), "it would hold a project's python-socketio below 5"
    assert not runtime("python-engineio")


def test_no_module_imports_the_names_python_socketio_5_owns() -> None:
    """`socketio` and `engineio` are whatever the project installed (python-socketio 5, say):
    the package and its tests import the renamed `socketio_v4` and `engineio_v3` only."""
    found = []
    for path in [*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found += [
                f"{path.relative_to(ROOT)}: {name}"
                for name in names
                if name.split(".")[0] in {"socketio", "engineio"}
            ]
    assert found == []


def test_ruff_is_pinned_exactly() -> None:
    assert re.fullmatch(r"==\d+\.\d+\.\d+", constraints()["ruff"])


def test_mypy_and_playwright_are_pinned_to_a_minor() -> None:
    for tool in ("mypy", "playwright"):
        assert re.fullmatch(r"(~=|==)\d+\.\d+\.\d+", constraints()[tool]), tool


def test_constraints_pin_tools_not_the_runtime_ranges() -> None:
    runtime_names = {canonicalize_name(r.name) for r in RUNTIME}
    assert set(constraints()) & runtime_names == set()


def test_every_ci_install_of_the_project_uses_the_constraints() -> None:
    installs = [line for line in CI_RUN.splitlines() if re.search(r"pip install .*-e ", line)]
    assert len(installs) >= 3  # the 3.11 environment, the 3.13 one, the README's command
    for line in installs:
        assert "-c constraints.txt" in line, line


def test_ci_runs_the_default_suite_on_python_3_13() -> None:
    assert re.search(r"^timeout \d+ \.venv313/bin/python -m pytest$", CI_RUN, re.MULTILINE)
    # No 3.13 to be found is a failure that says so, never a skipped step.
    [missing] = re.findall(r'^if \[ -z "\$python313" \]; then\n(.*?)^fi$', CI_RUN, re.M | re.S)
    assert "no Python 3.13 found" in missing
    assert missing.rstrip().endswith("exit 1")


def test_the_package_check_installs_the_wheel_where_python_socketio_5_came_first() -> None:
    check = (ROOT / ".ci" / "package-check").read_text()
    socketio_5 = check.index('install --quiet "python-socketio>=5,<6" "flask-socketio>=5,<6"')
    assert socketio_5 < check.index('"$work/socketio5/bin/pip" install --quiet "$wheel"')
