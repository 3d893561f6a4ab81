"""python -m benchmarks.serving.trees: two real servers alternating, and flags refused up front."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.serving.trees import describe, main, parse_args
from tests.paths import REPO


def test_two_checkouts_alternate_and_the_json_names_commits_not_paths(
    models_dir: Path, tmp_path: Path
) -> None:
    """This checkout against itself: every round measures both servers, the ratios come from
    the same rounds, and no path of this machine is written."""
    out = tmp_path / "trees.json"
    argv = [str(REPO), str(REPO), "--model", "beta", "--models-dir", str(models_dir)]
    result = main([*argv, "--concurrency", "1,2", "--requests", "3", "--rounds", "2",
                   "--json-out", str(out)])  # fmt: skip
    written = json.loads(out.read_text())
    assert written["levels"].keys() == {"1", "2"} and written["model"] == "beta"
    for level in result["levels"].values():
        for side in ("before", "after"):
            assert len(level["clips_per_s"][side]) == 2 and min(level["clips_per_s"][side]) > 0
            assert len(level["server_cpu_ms"][side]) == 2 and min(level["server_cpu_ms"][side]) > 0
        median, low, high = level["clips_per_s_ratio"]
        assert low <= median <= high and low > 0
    assert written["trees"]["before"] == written["trees"]["after"]
    assert str(REPO) not in out.read_text() and str(models_dir) not in out.read_text()


def test_prepare_mode_times_each_checkouts_code_in_its_own_process(
    models_dir: Path, tmp_path: Path
) -> None:
    """``--prepare``: no server; prepare_cost.py under each checkout, CPU and page faults of
    one upload (the MTAT clip: decoded, chunked, cut) from each round."""
    out = tmp_path / "prepare.json"
    argv = [str(REPO), str(REPO), "--model", "beta", "--models-dir", str(models_dir)]
    main([*argv, "--prepare", "--rounds", "2", "--json-out", str(out)])
    prepare = json.loads(out.read_text())["prepare"]
    for side in ("before", "after"):
        assert len(prepare["cpu_ms"][side]) == 2 and min(prepare["cpu_ms"][side]) > 1
        assert min(prepare["minor_faults"][side]) >= 0
    median, low, high = prepare["cpu_ms_ratio"]
    assert 0 < low <= median <= high


def test_a_checkout_is_dirty_only_with_changes_to_tracked_files(tmp_path: Path) -> None:
    def git(*cmd: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *cmd], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "app.py").write_text("x = 1\n")
    git("add", "app.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    clean = describe(tmp_path)
    assert len(clean["commit"]) == 40 and clean["dirty"] is False
    (tmp_path / "report.json").write_text("{}")  # untracked: a run's own output
    assert describe(tmp_path)["dirty"] is False
    (tmp_path / "app.py").write_text("x = 2\n")
    assert describe(tmp_path) == {"commit": clean["commit"], "dirty": True}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{tmp}", str(REPO), "--model", "x"], "before: .* is not a checkout"),
        ([str(REPO), str(REPO), "--model", "x", "--concurrency", "4,y"], "takes integers"),
        ([str(REPO), str(REPO), "--model", "x", "--rounds", "0"], "must be >= 1"),
        ([str(REPO), str(REPO), "--model", "nope"], "unknown model 'nope'; available models"),
    ],
)
def test_bad_arguments_are_refused_before_any_server_starts(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["beta", "--uploads", "0"], "must be >= 1"), (["nope"], "unknown model 'nope'")],
)
def test_prepare_cost_refuses_bad_arguments(
    argv: list[str], message: str, models_dir: Path
) -> None:
    script = REPO / "benchmarks" / "serving" / "prepare_cost.py"
    cmd = [sys.executable, "-P", str(script), *argv, "--models-dir", str(models_dir)]
    out = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.returncode == 2 and message in out.stderr, out.stderr
