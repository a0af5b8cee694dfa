"""The instruction-count guard of bench/ (`instructions_guard.py`): its comparison, its report,
its baseline file and its exit codes, with made-up counts (valgrind runs only in its CI step,
`.ci/instructions-guard`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The bench scripts import each other as top-level modules, as they do when run from bench/
# (appended, so that none of their names can hide another module).
sys.path.append(str(Path(__file__).resolve().parents[1] / "bench"))

import callgrind
import instructions_baseline as baseline
import instructions_guard as guard
from instructions_baseline import Baseline, Figures

MACHINE = {
    "python": "3.11.7 CPython (GCC 12.2.0)",
    "platform": "Linux-x86_64-glibc2.36",
    "cpu": "AMD EPYC",
    "valgrind": "valgrind-3.19.0",
}
LABELS = {"candid": "Candid write-off by id", "decoda": "Decoda charge by id"}


def counted(
    candid: int = 150_000, decoda: int = 120_000, ceiling: int = 100_000
) -> dict[str, Figures]:
    return {"candid": Figures(candid, ceiling), "decoda": Figures(decoda, ceiling)}


BEFORE = Baseline(MACHINE, guard.REQUESTS, counted())


def cells(table: str, scenario: str) -> list[str]:
    """The report's row for `scenario`, cell by cell, its name left out."""
    row = next(line for line in table.splitlines() if line.startswith(f"| {scenario} |"))
    return [cell.strip() for cell in row.split("|")[2:-1]]


def verdict_for(now: dict[str, Figures], before: Baseline = BEFORE) -> baseline.Verdict:
    return baseline.compare(before, now, MACHINE, guard.REQUESTS, LABELS)


def test_a_rise_of_ten_point_one_percent_fails_and_is_named() -> None:
    verdict = verdict_for(counted(candid=165_150))  # 1.5x → 1.6515x the ceiling
    assert verdict.failed
    assert verdict.problems == [
        "candid: 1.651x the ceiling, 1.500x in the baseline: +10.1% (tolerance +10%)"
    ]
    table = baseline.report(verdict)
    assert cells(table, "Candid write-off by id") == [
        "150.0k", "165.2k", "100.0k", "100.0k", "1.500", "1.651", "+10.1%", "FAIL",
    ]  # fmt: skip
    assert cells(table, "Decoda charge by id") == [
        "120.0k", "120.0k", "100.0k", "100.0k", "1.200", "1.200", "+0.0%", "ok",
    ]  # fmt: skip
    assert table.splitlines()[-1].startswith("FAIL: candid: ")


def test_a_rise_of_nine_point_nine_percent_passes_and_is_shown() -> None:
    verdict = verdict_for(counted(candid=164_850))
    assert not verdict.failed
    table = baseline.report(verdict)
    assert cells(table, "Candid write-off by id")[-4:] == ["1.500", "1.649", "+9.9%", "ok"]
    assert table.splitlines()[-1] == "ok: every scenario within +10% of its baseline ratio"


def test_the_ratio_to_the_ceiling_is_judged_not_the_count() -> None:
    # A machine that counts 30% more everywhere (another libc's memcpy, another build).
    verdict = verdict_for(counted(candid=195_000, decoda=156_000, ceiling=130_000))
    assert not verdict.failed
    # The same counts against an unchanged ceiling: the sandbox's own work rose.
    assert verdict_for(counted(candid=195_000, decoda=156_000)).failed


def test_a_scenario_missing_from_the_baseline_fails_saying_so() -> None:
    now = {**counted(), "mycure": Figures(110_000, 100_000)}
    verdict = verdict_for(now)
    assert verdict.failed
    assert verdict.problems == [
        "mycure: not in the baseline; add it with --update, in a commit that says why"
    ]
    assert cells(baseline.report(verdict), "mycure") == [
        "n/a", "110.0k", "n/a", "100.0k", "n/a", "1.100", "n/a", "FAIL",
    ]  # fmt: skip


def test_a_scenario_no_longer_counted_fails_saying_so() -> None:
    verdict = verdict_for({"candid": counted()["candid"]})
    assert verdict.problems == [
        "decoda: in the baseline but no longer counted; drop it with --update, in a commit "
        "that says why"
    ]


def test_a_baseline_from_another_python_says_so_without_failing_on_it() -> None:
    machine = {**MACHINE, "python": "3.13.0 CPython (GCC 12.2.0)"}
    other = Baseline(machine, guard.REQUESTS, counted())
    verdict = verdict_for(counted(), before=other)
    assert not verdict.failed
    assert len(verdict.notes) == 1
    assert "python '3.13.0 CPython (GCC 12.2.0)'" in verdict.notes[0]
    assert "'3.11.7 CPython (GCC 12.2.0)'" in verdict.notes[0]
    assert f"note: {verdict.notes[0]}" in baseline.report(verdict)


def test_a_scenario_much_cheaper_than_its_baseline_asks_for_the_baseline_to_move() -> None:
    verdict = verdict_for(counted(candid=130_000))
    assert not verdict.failed
    assert verdict.notes == [
        "candid: over 10% cheaper than the baseline; move it with --update, in a commit that "
        "says why"
    ]


def test_update_writes_a_baseline_the_comparison_reads_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "baseline.json"
    assert guard.run(path, update=True, count=lambda: (counted(), MACHINE)) == 0
    assert baseline.read(path) == BEFORE
    assert guard.run(path, update=False, count=lambda: (counted(candid=164_850), MACHINE)) == 0
    assert guard.run(path, update=False, count=lambda: (counted(candid=165_150), MACHINE)) == 1
    printed = capsys.readouterr().out
    assert "+9.9% | ok |" in printed
    assert "+10.1% | FAIL |" in printed
    # Moving it: the dearer counts become the baseline, and then pass.
    assert guard.run(path, update=True, count=lambda: (counted(candid=165_150), MACHINE)) == 0
    assert guard.run(path, update=False, count=lambda: (counted(candid=165_150), MACHINE)) == 0


def test_without_a_readable_baseline_it_exits_2_before_counting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def never() -> tuple[dict[str, Figures], dict[str, str]]:
        raise AssertionError("counted without a baseline")

    missing = tmp_path / "none.json"
    assert guard.run(missing, update=False, count=never) == 2
    assert capsys.readouterr().err == (
        f"instructions_guard: no baseline at {missing}: make one with --update\n"
    )
    broken = tmp_path / "broken.json"
    broken.write_text('{"machine": {}}')
    assert guard.run(broken, update=False, count=never) == 2
    said = capsys.readouterr().err
    assert said.startswith(f"instructions_guard: {broken} is not a baseline (KeyError")
    assert said.count("\n") == 1
    # A ratio is taken of every count: a zero would end in a ZeroDivisionError.
    baseline.write(broken, Baseline(MACHINE, guard.REQUESTS, counted(ceiling=1)))
    broken.write_text(broken.read_text().replace('"ceiling": 1', '"ceiling": 0'))
    assert guard.run(broken, update=False, count=never) == 2
    assert "a count must be a whole number above zero, not 0" in capsys.readouterr().err


def test_update_into_a_missing_folder_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "no such folder" / "baseline.json"
    assert guard.run(path, update=True, count=lambda: (counted(), MACHINE)) == 2
    assert capsys.readouterr().err == (
        f"instructions_guard: cannot write {path}: No such file or directory\n"
    )


def test_without_valgrind_it_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert guard.main([]) == 2
    assert capsys.readouterr().err == (
        "instructions_guard: valgrind is not installed (Debian: apt-get install valgrind)\n"
    )


def test_a_failed_counted_run_exits_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing() -> tuple[dict[str, Figures], dict[str, str]]:
        raise callgrind.CallgrindError("the counted run exited 1: boom")

    path = tmp_path / "baseline.json"
    baseline.write(path, BEFORE)
    assert guard.run(path, update=False, count=failing) == 1
    assert capsys.readouterr().err == "instructions_guard: the counted run exited 1: boom\n"


def test_dumps_pair_with_blocks_and_a_stray_dump_is_refused(tmp_path: Path) -> None:
    prefix = tmp_path / "callgrind.out"
    for number, total in enumerate([7, 1_000, 3, 2_000], start=1):
        Path(f"{prefix}.{number}").write_text(
            f"desc: Trigger: --dump-before=os_getppid\nsummary: {total}\ntotals: {total}\n"
        )
    prefix.write_text("desc: Trigger: Program termination\ntotals: 99\n")  # not a block's
    totals = callgrind.dumped_totals(prefix)
    assert totals == [7, 1_000, 3, 2_000]
    assert callgrind.paired(["a ceiling", "a sandbox"], totals) == {
        "a ceiling": 1_000,
        "a sandbox": 2_000,
    }
    with pytest.raises(callgrind.CallgrindError, match="3 dumps for 2 blocks"):
        callgrind.paired(["a ceiling", "a sandbox"], totals[:3])
