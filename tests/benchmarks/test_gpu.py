"""The GPU check's Python helpers, run on CPU with real models and the real MTAT clip."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks.gpu import MTAT_CLIP, main
from tests.app.support import make_models_dir


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_models_dir(tmp_path_factory.mktemp("models"))


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_models_prints_one_json_line_per_model(
    models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--models-dir", str(models), "models", "--providers", "cpu"]) == 0
    rows = lines(capsys.readouterr().out)
    assert [r["model"] for r in rows] == ["alpha", "beta", "gamma"]
    for row in rows:
        assert row["provider"] == "CPUExecutionProvider" and row["fallback"] is False
        assert row["placement"] is None  # counted on CUDA loads only
        assert row["load_ms"] > 0 and row["warmup_ms"] > 0


def test_parity_gate_on_the_mtat_clip(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert MTAT_CLIP.is_file()
    args = ["--models-dir", str(models), "--model", "beta", "parity", "--against", "cpu"]
    assert main(args) == 0
    (row,) = lines(capsys.readouterr().out)
    assert row["model"] == "beta" and row["chunks"] >= 2
    assert row["max_abs_diff"] == 0.0  # the same provider, the same numbers
    assert main([*args, "--tolerance", "-1"]) == 1  # the gate fails past its tolerance
    assert main([*args, "--tolerance", "-1", "--report-only"]) == 0


def test_conv1d_times_both_layouts_alternating(
    models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On CPU the option changes nothing: both sides run, time and agree exactly."""
    args = ["--models-dir", str(models), "--model", "beta", "conv1d", "--providers", "cpu"]
    assert main([*args, "--rounds", "2"]) == 0
    (row,) = lines(capsys.readouterr().out)
    assert row["model"] == "beta" and row["provider"] == "CPUExecutionProvider"
    assert row["chunks"] >= 2 and row["ms_per_chunk_off"] > 0 and row["ms_per_chunk_on"] > 0
    assert row["off_over_on"] > 0 and row["max_abs_diff"] == 0.0
    with pytest.raises(SystemExit):
        main([*args, "--rounds", "0"])


def test_conv1d_reports_a_model_that_cannot_run(
    models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--models-dir", str(models), "--model", "nope", "conv1d", "--providers", "cpu"]
    assert main(args) == 1
    (row,) = lines(capsys.readouterr().out)
    assert row["model"] == "nope" and "error" in row


def test_ab_times_two_graphs_of_one_model(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = models / "beta" / "model.onnx"
    args = [str(path), str(path), "--providers", "cpu", "--batch", "2", "--rounds", "2"]
    assert main(["ab", *args]) == 0
    (row,) = lines(capsys.readouterr().out)
    assert row["providers"] == ["CPUExecutionProvider", "CPUExecutionProvider"]
    assert row["a"]["sha256"] == row["b"]["sha256"] and row["max_abs_diff"] == 0.0
    assert row["ms_per_chunk_a"] > 0 and row["ms_per_chunk_b"] > 0 and row["a_over_b"] > 0
    with pytest.raises(SystemExit):
        main(["ab", str(path), str(models / "nope.onnx"), "--providers", "cpu"])
    assert "no ONNX file at" in capsys.readouterr().err


def test_ab_says_why_a_file_does_not_load(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx graph")
    path = models / "beta" / "model.onnx"
    assert main(["ab", str(path), str(broken), "--providers", "cpu", "--rounds", "1"]) == 1
    err = capsys.readouterr().err
    assert "benchmarks.gpu ab" in err and "cannot load" in err


@pytest.mark.parametrize("name", ["gpu_check.sh", "device_gpu_check.sh"])
def test_gpu_check_scripts_parse(name: str) -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / name
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    shellcheck = shutil.which("shellcheck")
    if shellcheck is not None:
        lint = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout
