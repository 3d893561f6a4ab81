"""The Ray Data actor as a plain object (no Ray): its onnxruntime threads pinned to its CPUs,
files it cannot read or that are over the limit as error rows, good files as ok rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa

from app.config import Settings
from app.library.actor import TaggerActor, actor_settings
from app.library.sources import resolve
from tests.app.library.conftest import MODEL
from tests.paths import MTAT_CLIP


def test_actor_settings_pin_onnxruntime_to_the_actor_s_cpus() -> None:
    pinned = actor_settings(Settings(intra_op_threads=0, inference_threads=0), 3)
    assert (pinned.intra_op(cuda=False), pinned.inference_workers(cuda=False)) == (3, 1)
    assert pinned.decoders == 3
    assert actor_settings(Settings(), 0).intra_op(cuda=False) == 1


def test_a_batch_with_good_missing_and_too_large_files(tmp_path: Path) -> None:
    shutil.copy(MTAT_CLIP, tmp_path / "clip.mp3")
    (tmp_path / "big.wav").write_bytes(b"\0" * 2_000_000)
    entries, _ = resolve([str(tmp_path)])
    gone = {"path": str(tmp_path / "gone.mp3"), "rel_path": "gone.mp3", "size": 10, "mtime": 0.0}
    batch = pa.Table.from_pylist([e.as_dict() for e in entries] + [gone])
    settings = Settings(providers="cpu", max_upload_mb=0.5, library_max_file_mb=1.0)
    actor = TaggerActor(settings, MODEL, cpus=2)
    rows = {Path(r["path"]).name: r for r in actor(batch).to_pylist()}
    assert rows["clip.mp3"]["status"] == "ok"
    assert len(rows["clip.mp3"]["embedding"]) == actor.model.embedding_size
    chunks = rows["clip.mp3"]["chunk_embeddings"]  # TAGGER_LIBRARY_CHUNK_EMBEDDINGS at most
    assert 0 < len(chunks) <= settings.library_chunk_embeddings
    assert {len(c) for c in chunks} == {actor.model.embedding_size}
    assert rows["gone.mp3"]["chunk_embeddings"] is None
    assert rows["big.wav"]["error"].startswith("file is 1.9 MiB, more than the limit of 1.0 MiB")
    assert rows["gone.mp3"]["error"].startswith("could not read the file: [Errno 2]")
    assert actor.settings.max_duration_s == settings.library_max_duration_s  # not an upload's
    # two intra-op threads in one run at a time (the service alone would run two single-threaded)
    assert actor.model.session.get_session_options().intra_op_num_threads == 2
    assert actor.model.workers == 1
