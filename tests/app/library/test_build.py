"""A real library build on a local Ray: synthetic and real recordings through the service's
tagger in Ray Data actors, rows in LanceDB; damaged files as error rows; reruns skip what is
done; a build killed (SIGKILL) after its first commit resumes with no duplicates."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
import pytest

from app.cli import main
from app.config import Settings
from app.library.build import BuildOptions, build
from app.library.chunks import stored
from app.library.schema import TABLE, LibraryManifest, track_id
from app.registry import ModelRegistry
from app.tagger import Tagger
from tagging.decisions import rule_for
from tests.app.library.conftest import DAMAGED, MODEL, write_clips
from tests.paths import REPO

pytestmark = pytest.mark.timeout(300)


def table(library: Path) -> pa.Table:
    return lancedb.connect(str(library)).open_table(TABLE).to_arrow()


def by_name(rows: pa.Table) -> dict[str, dict]:
    return {Path(r["path"]).name: r for r in rows.to_pylist()}


@pytest.fixture(scope="module")
def built(ray_local: str, music: Path, settings: Settings, tmp_path_factory) -> Path:
    library = tmp_path_factory.mktemp("lib") / "library"
    options = BuildOptions([str(music)], library, batch_size=3)
    summary = build(options, settings)
    assert (summary.files, summary.ok, summary.failed, summary.skipped) == (11, 9, 2, 0)
    assert summary.actors == 2 and not summary.interrupted
    return library


def test_every_file_is_one_row(built: Path, music: Path, settings: Settings) -> None:
    rows = table(built)
    files = sorted(p.name for p in music.rglob("*") if p.is_file())
    assert sorted(by_name(rows)) == files
    assert len(set(rows.column("id").to_pylist())) == rows.num_rows == 11
    manifest = LibraryManifest.read(built)
    assert (manifest.model, manifest.decision_policy, manifest.sources) == (
        MODEL,
        "f1",
        [str(music)],
    )
    assert manifest.embedding_size > 1 and len(manifest.tags) == 50
    assert manifest.chunk_embeddings == settings.library_chunk_embeddings == 32


def test_damaged_files_are_error_rows(built: Path, music: Path) -> None:
    rows = by_name(table(built))
    assert rows["broken.mp3"]["status"] == "error"
    assert "could not decode" in rows["broken.mp3"]["error"]
    assert "empty" in rows["empty.wav"]["error"]
    for name in DAMAGED:
        assert rows[name]["probabilities"] is None and rows[name]["embedding"] is None
        assert rows[name]["chunk_embeddings"] is None
    ok = [r for n, r in rows.items() if n not in DAMAGED]
    assert all(r["status"] == "ok" and r["error"] is None for r in ok)


def test_rows_are_the_service_tagger_s(built: Path, music: Path, settings: Settings) -> None:
    """Probabilities, labels, embedding and hash of the real recordings equal what the
    service's Tagger gives in process for the same bytes."""
    registry = ModelRegistry(settings)
    tagger = Tagger(settings, registry)
    model = registry.get(MODEL)
    rule = rule_for(model.card)
    rows = by_name(table(built))
    for path in sorted((music / "real").iterdir()):
        data = path.read_bytes()
        result = asyncio.run(tagger.tag(data, model))
        row = rows[path.name]
        assert row["id"] == track_id(str(path.resolve()))
        assert row["rel_path"] == f"real/{path.name}"
        assert row["content_hash"] == hashlib.sha256(data).hexdigest()
        assert row["size"] == len(data) and row["mtime"] == path.stat().st_mtime
        assert row["duration_s"] == pytest.approx(result.duration_s, abs=1e-3)
        np.testing.assert_allclose(row["probabilities"], result.probabilities, atol=1e-5)
        np.testing.assert_allclose(row["embedding"], result.embedding, atol=1e-4)
        want = stored(result.chunk_embeddings, 32).astype(np.float32)  # float16 rows
        np.testing.assert_allclose(row["chunk_embeddings"], want, rtol=2e-3, atol=1e-4)
        assert row["labels"] == rule.labels(
            model.tags, range(len(model.tags)), result.probabilities
        )
    tagger.close()
    brahms = next(r for n, r in rows.items() if n.startswith("Hungarian"))
    assert {"classical", "strings"} <= set(brahms["labels"])


def test_rerun_skips_done_rows_and_tags_changed_files(
    built: Path, music: Path, settings: Settings
) -> None:
    before = by_name(table(built))
    again = build(BuildOptions([str(music)], built, batch_size=3), settings)
    assert (again.skipped, again.tagged) == (11, 0)
    tone0 = music / "synth" / "tone000.wav"
    os.utime(tone0, (time.time(), time.time()))  # changed on disk: tagged again
    retried = build(BuildOptions([str(music)], built, retry_errors=True), settings)
    assert (retried.skipped, retried.ok, retried.failed) == (8, 1, 2)
    after = by_name(table(built))
    assert len(after) == 11 and len(set(r["id"] for r in after.values())) == 11
    assert after["tone000.wav"]["tagged_at"] > before["tone000.wav"]["tagged_at"]
    assert after["tone001.wav"]["tagged_at"] == before["tone001.wav"]["tagged_at"]


def test_another_model_is_refused(built: Path, music: Path, capsys) -> None:
    args = ["library", "build", str(music), "--library", str(built), "--model", "chunk_cnn1d"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"was built by model '{MODEL}', not 'chunk_cnn1d'" in err
    assert table(built).num_rows == 11


def test_stats_command(built: Path, capsys) -> None:
    assert main(["library", "stats", "--library", str(built), "--json"]) == 0
    import json

    stats = json.loads(capsys.readouterr().out)
    assert (stats["rows"], stats["ok"], stats["errors"], stats["model"]) == (11, 9, 2, MODEL)
    assert stats["bytes_on_disk"] > 0


def committed_rows(library: Path) -> int:
    try:
        return lancedb.connect(str(library)).open_table(TABLE).count_rows()
    except (ValueError, FileNotFoundError, RuntimeError):
        return 0  # not created yet


def test_killed_build_resumes_without_duplicates(
    ray_local: str, settings: Settings, tmp_path: Path
) -> None:
    """``python -m app library build`` on the module's Ray, SIGKILLed once its first batch is
    committed; a rerun adds exactly the missing rows and keeps the committed ones."""
    files = write_clips(tmp_path / "many", 16, 0, 3.0)
    library = tmp_path / "library"
    cmd = [sys.executable, "-m", "app", "library", "build", str(tmp_path / "many")]
    cmd += ["--library", str(library), "--ray-address", ray_local, "--actors", "1"]
    cmd += ["--batch-size", "2"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TAGGER_PROVIDERS": "cpu"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while committed_rows(library) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    at_kill = by_name(table(library))
    assert 0 < len(at_kill) < len(files)  # killed mid-build, after a commit
    summary = build(BuildOptions([str(tmp_path / "many")], library, batch_size=4), settings)
    assert (summary.skipped, summary.ok) == (len(at_kill), len(files) - len(at_kill))
    rows = by_name(table(library))
    assert sorted(rows) == sorted(f.name for f in files)
    ids = table(library).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == len(files)
    assert all(rows[n]["tagged_at"] == r["tagged_at"] for n, r in at_kill.items())
