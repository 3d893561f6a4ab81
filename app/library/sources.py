"""SOURCE arguments of ``python -m app library build`` -> the files to tag (:class:`FileEntry`).

A SOURCE is one of:

* a local folder (searched recursively for the audio suffixes ``python -m app tag`` knows,
  :func:`app.cli.find_audio`), a local file or a glob (``music/**/*.flac``);
* a manifest: a CSV or Parquet file (local or a URI) with a ``path`` column; relative paths are
  taken relative to the manifest's folder;
* a URI ``scheme://...`` (``s3://``, ``gs://``, ``file://``, anything
  :meth:`pyarrow.fs.FileSystem.from_uri` knows): a prefix (listed recursively), one object or a
  glob over a prefix (``s3://bucket/music/*.mp3``). The files are read later through the same
  file system (:func:`open_uri`), on whichever Ray node tags them.

Each entry carries what a rerun compares to skip files already in the library: path, size and
modification time.
"""

from __future__ import annotations

import fnmatch
import io
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from app.cli import AUDIO_SUFFIXES, find_audio

MANIFEST_SUFFIXES = frozenset({".csv", ".parquet", ".pq"})
"""A SOURCE ending in one of these is a manifest: a table with a ``path`` column."""

GLOB_CHARS = frozenset("*?[")

FileSystemFor = Callable[[str], tuple[pafs.FileSystem, str]]
"""URI -> (file system, path inside it): :meth:`pyarrow.fs.FileSystem.from_uri` by default."""


@dataclass(frozen=True)
class FileEntry:
    """One file to tag: ``path`` is an absolute local path or a URI."""

    path: str
    rel_path: str  # relative to the SOURCE it was found under (its name for a single file)
    size: int  # bytes
    mtime: float  # seconds since the epoch (0.0 where a store does not say)

    def key(self) -> tuple[str, int, float]:
        """What a rerun compares to skip a file already in the library."""
        return (self.path, self.size, self.mtime)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def is_uri(source: str) -> bool:
    """``scheme://...`` with a scheme of two letters or more (``C:\\`` is a local path)."""
    scheme, sep, _ = source.partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.replace("+", "").isalnum()


def is_manifest(source: str) -> bool:
    return PurePosixPath(source.split("?")[0]).suffix.lower() in MANIFEST_SUFFIXES


def is_audio(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in AUDIO_SUFFIXES


# -- local -----------------------------------------------------------------------------------
def _local_root(arg: str) -> Path:
    """The folder a local SOURCE's relative paths start from: the folder itself, a file's
    parent, or a glob's fixed prefix."""
    path = Path(arg)
    if path.is_dir():
        return path
    if path.exists():
        return path.parent
    fixed = []
    for part in path.parts:
        if GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _local_entry(path: Path, root: Path) -> FileEntry:
    stat = path.stat()
    absolute = path.resolve()
    try:
        rel = absolute.relative_to(root.resolve()).as_posix()
    except ValueError:
        rel = absolute.name
    return FileEntry(str(absolute), rel, stat.st_size, stat.st_mtime)


def local_entries(source: str) -> list[FileEntry]:
    """A local folder, file or glob (:func:`app.cli.find_audio`'s rules); [] if it matches
    nothing."""
    files, _missing = find_audio([source])
    root = _local_root(source)
    return [_local_entry(f, root) for f in files if f.is_file()]


# -- URIs (pyarrow file systems) ---------------------------------------------------------------
def default_filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    return pafs.FileSystem.from_uri(uri)


def _uri_prefix(uri: str) -> str:
    """``s3://bucket/a/b.mp3`` with the path ``bucket/a/b.mp3`` -> ``s3://``; ``file:///x``
    -> ``file://``: the part of a URI that joined to a file system path gives its URI back."""
    return uri.partition("://")[0] + "://"


def split_query(uri: str) -> tuple[str, str]:
    """``s3://b/k?region=x`` -> (``s3://b/k``, ``?region=x``): file system options, not a glob."""
    base, sep, query = uri.partition("?")
    return (base, sep + query) if sep and "=" in query else (uri, "")


def _info_entry(info: pafs.FileInfo, prefix: str, root: str, query: str) -> FileEntry:
    rel = info.path[len(root) :].lstrip("/") if info.path.startswith(root) else info.base_name
    mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
    return FileEntry(prefix + info.path + query, rel or info.base_name, int(info.size or 0), mtime)


def uri_entries(source: str, filesystem_for: FileSystemFor = default_filesystem) -> list[FileEntry]:
    """A URI: one object, a prefix (listed recursively, audio suffixes only) or a glob (matched
    against the whole URI: ``*`` crosses folders). Entries keep the URI's query (options such as
    ``?region=...``) so the actors open them the same way."""
    base, query = split_query(source)
    prefix = _uri_prefix(base)
    pattern = None
    if GLOB_CHARS & set(base):
        fixed = base[: min(base.index(c) for c in GLOB_CHARS if c in base)]
        base, pattern = fixed.rpartition("/")[0], base
    fs, root = filesystem_for(base + query)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.File:
        return [_info_entry(info, prefix, PurePosixPath(root).parent.as_posix(), query)]
    if info.type != pafs.FileType.Directory:
        return []
    listed = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    files = sorted((i for i in listed if i.type == pafs.FileType.File), key=lambda i: i.path)
    if pattern is not None:
        files = [i for i in files if fnmatch.fnmatchcase(prefix + i.path, pattern)]
    else:
        files = [i for i in files if is_audio(i.base_name)]
    return [_info_entry(i, prefix, root, query) for i in files]


def open_uri(uri: str, filesystem_for: FileSystemFor = default_filesystem) -> bytes:
    """The bytes of the object at ``uri``."""
    fs, path = filesystem_for(uri)
    with fs.open_input_stream(path) as stream:
        return stream.read()


def read_bytes(path: str, filesystem_for: FileSystemFor = default_filesystem) -> bytes:
    """A file's bytes: a local path directly, a URI through its pyarrow file system."""
    if is_uri(path):
        return open_uri(path, filesystem_for)
    with open(path, "rb") as f:
        return f.read()


# -- manifests -----------------------------------------------------------------------------------
def manifest_paths(source: str, filesystem_for: FileSystemFor = default_filesystem) -> list[str]:
    """The ``path`` column of a CSV or Parquet manifest, relative paths made absolute against the
    manifest's folder (or URI prefix). ValueError without a ``path`` column."""
    data = read_bytes(source, filesystem_for) if is_uri(source) else Path(source).read_bytes()
    if PurePosixPath(source.split("?")[0]).suffix.lower() == ".csv":
        table: pa.Table = pacsv.read_csv(io.BytesIO(data))
    else:
        table = pq.read_table(io.BytesIO(data))
    if "path" not in table.column_names:
        raise ValueError(f"{source}: a manifest needs a 'path' column (has {table.column_names})")
    base = source.rpartition("/")[0] if is_uri(source) else str(Path(source).resolve().parent)
    paths = [str(p) for p in table.column("path").to_pylist() if p]
    return [p if is_uri(p) or os.path.isabs(p) else f"{base}/{p}" for p in paths]


def manifest_entries(
    source: str, filesystem_for: FileSystemFor = default_filesystem
) -> tuple[list[FileEntry], list[str]]:
    """The files a manifest names, and those of its paths that are not there."""
    entries: list[FileEntry] = []
    missing: list[str] = []
    for path in manifest_paths(source, filesystem_for):
        if is_uri(path):
            found = uri_entries(path, filesystem_for)
        elif os.path.isfile(path):
            found = [_local_entry(Path(path), Path(path).parent)]
        else:
            found = []
        if not found:
            missing.append(path)
        entries.extend(found)
    return entries, missing


# -- all of them ---------------------------------------------------------------------------------
def resolve(
    sources: Iterable[str], filesystem_for: FileSystemFor = default_filesystem
) -> tuple[list[FileEntry], list[str]]:
    """Every file named by ``sources``, in order and without repeats, and the sources (or
    manifest paths) that matched nothing."""
    found: dict[str, FileEntry] = {}
    missing: list[str] = []
    for source in sources:
        if is_manifest(source) and (is_uri(source) or os.path.isfile(source)):
            entries, absent = manifest_entries(source, filesystem_for)
            missing += absent
        elif is_uri(source):
            entries = uri_entries(source, filesystem_for)
        else:
            entries = local_entries(source)
        if not entries and not is_manifest(source):
            missing.append(source)
        for entry in entries:
            found.setdefault(entry.path, entry)
    return list(found.values()), missing
