"""``python -m app tag``: a folder of good and bad files, the same numbers as POST /predict, every
output format read back, resuming from ``--out``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from app import results_file
from app.cli import main
from app.config import Settings
from app.main import create_app
from tagging.constants import SAMPLE_RATE
from tests.app.support import tone
from tests.paths import MTAT_CLIP, REPO


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two good files (one in a subfolder), three bad ones, and a text file a walk ignores."""
    root = tmp_path / "music"
    (root / "sub").mkdir(parents=True)
    shutil.copy(MTAT_CLIP, root / "sub" / "clip.mp3")
    sf.write(root / "tone.wav", tone(3.0), SAMPLE_RATE)
    (root / "text.mp3").write_text("not audio at all\n")
    (root / "empty.wav").write_bytes(b"")
    sf.write(root / "short.flac", tone(0.2), SAMPLE_RATE)
    (root / "notes.txt").write_text("ignored by the folder walk\n")
    return root


@pytest.fixture(autouse=True)
def env(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGGER_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("TAGGER_PROVIDERS", "cpu")
    monkeypatch.setenv("TAGGER_INTRA_OP_THREADS", "1")


def test_folder_with_good_and_bad_files(folder: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["tag", str(folder), "--format", "json", "--jobs", "2"]) == 1
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert [Path(r["file"]).name for r in rows] == ["clip.mp3", "tone.wav"]
    assert all(r["model"] == "beta" and len(r["tags"]) == 10 for r in rows)
    (text_line,) = [line for line in err.splitlines() if f"error: {folder / 'text.mp3'}: " in line]
    assert "decode" in text_line  # the service's 415 message
    assert f"error: {folder / 'empty.wav'}: the uploaded file is empty" in err
    assert f"error: {folder / 'short.flac'}: audio lasts 0.200 s, less than the minimum" in err
    assert "notes.txt" not in err + out
    assert "3 of 5 file(s) failed" in err


def test_same_numbers_as_the_service(models_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["tag", str(MTAT_CLIP), "--model", "alpha", "--all-tags", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    settings = Settings(models_dir=models_dir, providers="cpu", intra_op_threads=1)
    with TestClient(create_app(settings)) as client:
        r = client.post(
            "/predict?model=alpha",
            files={"file": (MTAT_CLIP.name, MTAT_CLIP.read_bytes(), "audio/mpeg")},
        )
    assert r.status_code == 200, r.text
    served = [(t["tag"], round(t["probability"], 4)) for t in r.json()["tags"]]
    assert [(t["tag"], t["probability"]) for t in row["tags"]] == served
    assert row["duration_s"] == round(r.json()["duration_s"], 3)
    assert row["heard_s"] == round(r.json()["heard_s"], 3)


@pytest.mark.parametrize("fmt", results_file.FORMATS)
def test_rerun_with_out_skips_tagged_files(
    folder: Path, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "results" / f"tags.{fmt}"
    assert main(["tag", str(folder / "sub"), str(folder / "*.wav"), "--top-k", "3",
                 "--format", fmt, "--out", str(out)]) == 1  # fmt: skip
    first = results_file.read(out, fmt)
    assert [Path(r.file).name for r in first] == ["clip.mp3", "tone.wav"]
    assert all(len(r.tags) == 3 for r in first)
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temporary left
    capsys.readouterr()
    (folder / "empty.wav").unlink()  # the bad file is gone and a new one came
    sf.write(folder / "new.wav", tone(2.0, seed=5), SAMPLE_RATE)
    assert main(["tag", str(folder / "sub"), str(folder / "*.wav"), "--top-k", "3",
                 "--format", fmt, "--out", str(out)]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert f"2 file(s) already in {out}: skipped" in err
    second = results_file.read(out, fmt)
    assert second[:2] == first
    assert [Path(r.file).name for r in second] == ["clip.mp3", "tone.wav", "new.wav"]


def test_usage_errors(folder: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["tag", str(folder), "--model", "nope"]) == 2
    assert "unknown model 'nope'; available models: alpha, beta, gamma" in capsys.readouterr().err
    assert main(["tag", str(folder / "sub"), "--top-k", "11"]) == 2
    assert "--top-k: 11 is not within the 10 tags of model 'beta'" in capsys.readouterr().err
    assert main(["tag", str(folder / "sub"), "--top-k", "0"]) == 2
    assert "--top-k: 0 is not within the 10 tags" in capsys.readouterr().err
    assert main(["tag", str(folder / "missing*.mp3")]) == 1
    assert "no such file, folder or glob match" in capsys.readouterr().err


def test_python_m_app_shows_a_progress_bar(folder: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "app", "tag", str(folder / "sub"), str(folder / "tone.wav")],
        capture_output=True,
        text=True,
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "tagging: 100%" in proc.stderr and "2/2" in proc.stderr
    assert proc.stdout.splitlines()[0].split() == ["file", "model", "seconds", "labels", "tags"]


def test_cli_and_app_import_neither_torch_nor_test_tools() -> None:
    """`make serve` installs no torch, tqdm comes with it, playwright does not."""
    code = (
        "import sys, app.cli, app.main, app.routers.web, tqdm;"
        "sys.exit(any(m in sys.modules for m in ('torch', 'playwright', 'sklearn')))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "TAGGER_PROVIDERS": "cpu"}
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env).returncode == 0


def test_embedding_is_the_services_and_survives_a_rerun(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "tags.json"
    args = ["tag", str(MTAT_CLIP), "--model", "alpha", "--format", "json", "--embedding"]
    assert main([*args, "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    settings = Settings(models_dir=models_dir, providers="cpu", intra_op_threads=1)
    with TestClient(create_app(settings)) as client:
        r = client.post(
            "/predict?model=alpha&embedding=true",
            files={"file": (MTAT_CLIP.name, MTAT_CLIP.read_bytes(), "audio/mpeg")},
        )
    assert row["embedding"] == r.json()["embedding"] and len(row["embedding"]) == 3
    assert main([*args, "--out", str(out)]) == 0  # the rerun keeps the recorded embedding
    assert json.loads(out.read_text()) == [row]
    capsys.readouterr()


def test_embedding_needs_json_and_a_model_with_one(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["tag", str(MTAT_CLIP), "--embedding"])
    assert "--embedding needs --format json" in capsys.readouterr().err
    assert main(["tag", str(MTAT_CLIP), "--model", "gamma", "--format", "json", "--embedding"]) == 2
    assert "model 'gamma' has no embedding output" in capsys.readouterr().err
