"""Packaging facts the product relies on: the CLI table, a torch-free serving install."""

from __future__ import annotations

import subprocess
import sys

from tests.paths import REPO
from training.cli import COMMANDS, build_parser


def test_cli_lists_every_command() -> None:
    help_text = build_parser().format_help()
    for name in ("synth", "prepare", "train", "evaluate", "benchmark", "export", "analyze"):
        assert name in COMMANDS
        assert name in help_text


def test_cli_unknown_command_fails_with_usage() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "training", "no-such-command"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr


def test_serving_requirements_hold_no_torch() -> None:
    sys.path.insert(0, str(REPO / "docker"))
    try:
        from requirements_from_pyproject import requirements
    finally:
        sys.path.pop(0)
    serve = requirements(REPO / "pyproject.toml", ["serve"])
    assert any(r.startswith("onnxruntime-gpu") for r in serve)
    assert not any(r.split("=")[0].split("[")[0].strip().startswith("torch") for r in serve)
    train = requirements(REPO / "pyproject.toml", ["serve", "train"])
    assert any(r.startswith("torch==") for r in train)


def test_importing_audio_and_app_side_modules_does_not_import_torch() -> None:
    code = (
        "import sys, training, tagging.audio, training.constants, training.data.mtat;"
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
