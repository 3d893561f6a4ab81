"""The library's writer: create, refresh the manifest, add batches as Lance commits (merged on
id: no duplicates), the keys a rerun skips, and one model per library."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import lancedb
import pyarrow as pa
import pytest

from app.errors import ModelMismatchError
from app.library.schema import TABLE, LibraryManifest, track_id, track_schema
from app.library.store import LibraryWriter, existing_manifest

TAGS = ["guitar", "piano", "rock"]


def manifest(model: str = "m", version: str = "1", size: int = 4) -> LibraryManifest:
    return LibraryManifest(
        model=model, model_version=version, tags=TAGS, embedding_size=size, sources=["src"]
    )


def rows(paths: list[str], status: str = "ok", size: int = 4) -> pa.Table:
    ok = status == "ok"
    return pa.Table.from_pylist(
        [
            {
                "id": track_id(p),
                "path": p,
                "rel_path": Path(p).name,
                "size": 100 + i,
                "mtime": 1.5,
                "content_hash": "h",
                "duration_s": 30.0 if ok else None,
                "model": "m",
                "model_version": "1",
                "probabilities": [0.1, 0.2, 0.9] if ok else None,
                "labels": ["rock"] if ok else None,
                "embedding": [float(i)] * size if ok else None,
                "chunk_embeddings": [[float(i)] * size, [0.5] * size] if ok else None,
                "status": status,
                "error": None if ok else "could not decode",
                "tagged_at": datetime.now(UTC),
            }
            for i, p in enumerate(paths)
        ],
        schema=track_schema(len(TAGS), size),
    )


def test_create_add_and_done_keys(tmp_path: Path) -> None:
    writer = LibraryWriter.open(tmp_path / "lib", manifest())
    assert existing_manifest(tmp_path / "lib") == writer.manifest
    writer.add(rows(["/m/a.mp3", "/m/b.mp3"]))
    writer.add(rows(["/m/c.mp3"], status="error"))
    assert writer.table.count_rows() == 3
    assert writer.done_keys() == {
        ("/m/a.mp3", 100, 1.5),
        ("/m/b.mp3", 101, 1.5),
        ("/m/c.mp3", 100, 1.5),
    }
    assert writer.done_keys(retry_errors=True) == {("/m/a.mp3", 100, 1.5), ("/m/b.mp3", 101, 1.5)}


def test_a_batch_again_replaces_its_rows(tmp_path: Path) -> None:
    writer = LibraryWriter.open(tmp_path, manifest())
    writer.add(rows(["/m/a.mp3", "/m/b.mp3"], status="error"))
    version = writer.table.version
    writer.add(rows(["/m/a.mp3", "/m/b.mp3"]))  # retried: same ids
    assert writer.table.version == version + 1  # one commit per batch
    table = lancedb.connect(str(tmp_path)).open_table(TABLE).to_arrow()
    assert sorted(table.column("path").to_pylist()) == ["/m/a.mp3", "/m/b.mp3"]
    assert set(table.column("status").to_pylist()) == {"ok"}


def test_a_second_writer_replaces_rows_of_the_first(tmp_path: Path) -> None:
    LibraryWriter.open(tmp_path, manifest()).add(rows(["/m/a.mp3", "/m/b.mp3"], status="error"))
    second = LibraryWriter.open(tmp_path, manifest())
    second.add(rows(["/m/b.mp3", "/m/c.mp3"]))  # b known from the table: merged, c appended
    second.add(rows(["/m/d.mp3"]))  # appended
    table = lancedb.connect(str(tmp_path)).open_table(TABLE).to_arrow()
    assert sorted(table.column("path").to_pylist()) == [
        "/m/a.mp3",
        "/m/b.mp3",
        "/m/c.mp3",
        "/m/d.mp3",
    ]
    status = dict(zip(*table.select(["path", "status"]).to_pydict().values(), strict=True))
    assert status == {"/m/a.mp3": "error", "/m/b.mp3": "ok", "/m/c.mp3": "ok", "/m/d.mp3": "ok"}
    chunks = dict(
        zip(*table.select(["path", "chunk_embeddings"]).to_pydict().values(), strict=True)
    )
    assert chunks["/m/a.mp3"] is None  # an error row keeps none
    assert chunks["/m/b.mp3"] == [[0.0] * 4, [0.5] * 4]  # merged: the ok row's, float16


def test_reopen_refreshes_the_manifest(tmp_path: Path) -> None:
    first = LibraryWriter.open(tmp_path, manifest())
    first.add(rows(["/m/a.mp3"]))
    again = LibraryWriter.open(tmp_path, manifest().model_copy(update={"sources": ["src", "more"]}))
    assert again.manifest.sources == ["src", "more"]
    assert again.manifest.created == first.manifest.created
    assert again.manifest.updated > first.manifest.updated
    assert again.table.count_rows() == 1
    again.finish()
    assert LibraryManifest.read(tmp_path).updated == again.manifest.updated


@pytest.mark.parametrize(
    ("other", "message"),
    [
        (manifest(model="other"), "was built by model 'm', not 'other': use --model m"),
        (manifest(version="2"), "version 1 .* the model now is version 2"),
        (manifest(size=8), "4-d embeddings"),
    ],
)
def test_another_model_is_refused(tmp_path: Path, other: LibraryManifest, message: str) -> None:
    LibraryWriter.open(tmp_path, manifest()).add(rows(["/m/a.mp3"]))
    with pytest.raises(ModelMismatchError, match=message):
        LibraryWriter.open(tmp_path, other)
    assert LibraryManifest.read(tmp_path).model == "m"  # the library is left as it was


def test_a_library_of_another_layout_version_is_refused(tmp_path: Path) -> None:
    old = manifest().model_copy(update={"library_version": 1})
    old.write(tmp_path)
    with pytest.raises(ModelMismatchError, match="has library version 1; .* rebuild it"):
        LibraryWriter.open(tmp_path, manifest())
    assert LibraryManifest.read(tmp_path).library_version == 1  # left as it was


def test_finish_compacts_the_builds_small_fragments(tmp_path: Path) -> None:
    writer = LibraryWriter.open(tmp_path / "lib", manifest())
    for i in range(5):  # five batches: five commits, five small fragments
        writer.add(rows([f"/m/{i}.mp3"]))
    assert writer.table.stats()["fragment_stats"]["num_fragments"] == 5
    before = writer.table.to_arrow().sort_by("id")
    writer.finish()
    assert writer.table.stats()["fragment_stats"]["num_fragments"] == 1
    assert writer.table.to_arrow().sort_by("id").equals(before)  # the same rows, none lost
    assert before.column("chunk_embeddings").null_count == 0  # chunks kept through compaction
