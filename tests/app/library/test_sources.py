"""SOURCE -> file entries: folders, globs, CSV/Parquet manifests, file:// URIs, and object-store
URIs resolved through a pyarrow file system (a local one standing in for S3: no object store
can be reached from the tests)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from app.library.sources import (
    default_filesystem,
    is_uri,
    read_bytes,
    resolve,
    split_query,
    uri_entries,
)


@pytest.fixture
def music(tmp_path: Path) -> Path:
    """a.mp3, sub/b.wav, sub/deep/c.flac and a notes.txt a folder walk ignores."""
    root = tmp_path / "music"
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "a.mp3").write_bytes(b"a" * 10)
    (root / "sub" / "b.wav").write_bytes(b"b" * 20)
    (root / "sub" / "deep" / "c.flac").write_bytes(b"c" * 30)
    (root / "notes.txt").write_text("not audio")
    os.utime(root / "a.mp3", (1_700_000_000, 1_700_000_000))
    return root


def test_folder_is_walked_recursively_for_audio(music: Path) -> None:
    entries, missing = resolve([str(music)])
    assert missing == []
    assert [(e.rel_path, e.size) for e in entries] == [
        ("a.mp3", 10),
        ("sub/b.wav", 20),
        ("sub/deep/c.flac", 30),
    ]
    assert entries[0].path == str((music / "a.mp3").resolve())
    assert entries[0].mtime == 1_700_000_000
    assert entries[0].key() == (entries[0].path, 10, 1_700_000_000.0)


def test_glob_and_repeats_and_missing(music: Path) -> None:
    entries, missing = resolve(
        [str(music / "**" / "*.wav"), str(music / "sub"), str(music / "nothing*.mp3")]
    )
    # b.wav named twice (glob, folder) is listed once; rel_path from the glob's fixed prefix
    assert [e.rel_path for e in entries] == ["sub/b.wav", "deep/c.flac"]
    assert missing == [str(music / "nothing*.mp3")]


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_manifest_relative_absolute_and_missing(music: Path, kind: str) -> None:
    paths = ["a.mp3", str(music / "sub" / "b.wav"), "gone.mp3"]
    table = pa.table({"path": paths, "note": ["x", "y", "z"]})
    manifest = music / f"list.{kind}"
    if kind == "csv":
        manifest.write_text("path,note\n" + "".join(f"{p},n\n" for p in paths))
    else:
        pq.write_table(table, manifest)
    entries, missing = resolve([str(manifest)])
    assert [Path(e.path).name for e in entries] == ["a.mp3", "b.wav"]
    assert missing == [f"{music.resolve()}/gone.mp3"]


def test_manifest_without_path_column(music: Path) -> None:
    (music / "bad.csv").write_text("file\na.mp3\n")
    with pytest.raises(ValueError, match="'path' column"):
        resolve([str(music / "bad.csv")])


def test_file_uri_folder_file_and_glob(music: Path) -> None:
    uri = f"file://{music.resolve()}"
    entries, missing = resolve([uri])
    assert missing == []
    assert [e.path for e in entries] == [
        f"{uri}/a.mp3",
        f"{uri}/sub/b.wav",
        f"{uri}/sub/deep/c.flac",
    ]
    assert [e.rel_path for e in entries] == ["a.mp3", "sub/b.wav", "sub/deep/c.flac"]
    assert entries[0].mtime == 1_700_000_000
    assert read_bytes(entries[1].path) == b"b" * 20
    (one,) = uri_entries(f"{uri}/sub/b.wav")
    assert (one.path, one.rel_path, one.size) == (f"{uri}/sub/b.wav", "b.wav", 20)
    globbed = uri_entries(f"{uri}/sub/*.flac")
    assert [e.rel_path for e in globbed] == ["deep/c.flac"]  # '*' crosses folders in a URI glob


def test_object_store_uri_through_a_pyarrow_filesystem(music: Path, tmp_path: Path) -> None:
    """``s3://bucket/...`` resolved by a stand-in for FileSystem.from_uri: a local folder as the
    store's root. Paths, listing, globbing and reading go through pyarrow's FileSystem API,
    as with S3FileSystem."""
    (tmp_path / "store" / "bucket").mkdir(parents=True)
    (music).rename(tmp_path / "store" / "bucket" / "music")
    store = pafs.SubTreeFileSystem(str(tmp_path / "store"), pafs.LocalFileSystem())

    def filesystem_for(uri: str) -> tuple[pafs.FileSystem, str]:
        base, _ = split_query(uri)
        return store, base.partition("://")[2]

    entries, missing = resolve(["s3://bucket/music?region=eu-west-1"], filesystem_for)
    assert missing == []
    assert [e.path for e in entries] == [
        "s3://bucket/music/a.mp3?region=eu-west-1",
        "s3://bucket/music/sub/b.wav?region=eu-west-1",
        "s3://bucket/music/sub/deep/c.flac?region=eu-west-1",
    ]
    assert read_bytes(entries[2].path, filesystem_for) == b"c" * 30
    assert [e.rel_path for e in uri_entries("s3://bucket/music/*.mp3", filesystem_for)] == ["a.mp3"]
    assert resolve(["s3://bucket/nothing"], filesystem_for) == ([], ["s3://bucket/nothing"])


def test_uri_parsing() -> None:
    assert is_uri("s3://bucket/key") and is_uri("gs://b/k") and is_uri("file:///x")
    assert not is_uri("C:\\music") and not is_uri("/music/a.mp3") and not is_uri("a://b")
    assert split_query("s3://b/k?region=x") == ("s3://b/k", "?region=x")
    assert split_query("s3://b/k?.mp3") == ("s3://b/k?.mp3", "")  # a glob, not a query
    fs, path = default_filesystem("s3://bucket/music/a.mp3?region=us-east-1")
    assert (fs.type_name, path) == ("s3", "bucket/music/a.mp3")
