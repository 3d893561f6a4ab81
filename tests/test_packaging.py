"""Packaging facts the product relies on: the CLI table, a torch-free serving install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.app.support import make_models_dir, server_env
from tests.paths import MTAT_CLIP, REPO
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


BLOCKED_IMPORTS_CHILD = """
import importlib.abc, json, sys

BLOCKED = ("training", "benchmarks", "torch")
attempts = []


class Block(importlib.abc.MetaPathFinder):
    # First on sys.meta_path: any import of a blocked top-level package fails as if absent.
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            attempts.append(name)
            raise ImportError(f"blocked: {name}")
        return None


sys.meta_path.insert(0, Block())

from fastapi.testclient import TestClient

import app.main

with TestClient(app.main.create_app()) as client:
    ready = client.get("/readyz").status_code
    with open(sys.argv[1], "rb") as f:
        files = {"file": ("clip.mp3", f, "audio/mpeg")}
        predict = client.post("/predict", files=files).status_code
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print(json.dumps({"ready": ready, "predict": predict, "attempts": attempts, "loaded": loaded}))
"""


def test_the_service_runs_without_training_benchmarks_or_torch(tmp_path: Path) -> None:
    """The serving image holds app/ and tagging/ only: the app must import, start, load its
    models and answer a prediction with ``training``, ``benchmarks`` and ``torch`` unimportable."""
    env = {**os.environ, **server_env(make_models_dir(tmp_path), TAGGER_PROVIDERS="cpu")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKED_IMPORTS_CHILD, str(MTAT_CLIP)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"ready": 200, "predict": 200, "attempts": [], "loaded": []}, got
