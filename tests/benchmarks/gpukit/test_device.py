"""The device side's facts and GPU query (the unpack, link and doctor run in test_cli)."""

from __future__ import annotations

import json
import platform
import subprocess

import onnxruntime as ort
import pytest

from benchmarks.gpukit import cli, device


@pytest.mark.parametrize(
    ("out", "expected"), [("9.0\n", 90), ("8.6\n", 86), ("", None), ("[N/A]\n", None)]
)
def test_compute_capability_from_nvidia_smi(
    monkeypatch: pytest.MonkeyPatch, out: str, expected: int | None
) -> None:
    ran = subprocess.CompletedProcess([], 0, stdout=out)
    monkeypatch.setattr(device.subprocess, "run", lambda *a, **k: ran)
    assert device.compute_capability() == expected


def test_facts_name_the_packages_taken_from_the_image(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["facts"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["python"] == platform.python_version()
    assert facts["packages"]["onnxruntime-gpu"] == ort.__version__
    assert facts["packages"]["onnxruntime"] is None  # never both (README)
    assert facts["packages"]["nvidia-cudnn-cu13"].startswith("9.")
