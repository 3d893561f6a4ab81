"""Write decided tags into an audio file's own metadata, safely (torch-free; mutagen).

What is written, per tag format (labels are the tags the model decided, in the caller's order):

* ID3 (MP3, WAV, AIFF): ``TXXX:MTAT_LABELS`` = ``"classical; strings"`` (one value joined with
  ``"; "``: ID3v2.3 has no multi-valued text, and one joined value reads the same in v2.3 and
  v2.4 players), ``TXXX:MTAT_MODEL``, ``TXXX:MTAT_MODEL_VERSION``; genre in ``TCON``.
  The file keeps its ID3 version: a v2.3 tag is written back as v2.3 and a v2.4 tag as v2.4,
  with the other frames loaded untranslated so they stay as they were; a file without an ID3v2
  tag gets v2.4 (a v2.2 tag, which mutagen cannot write, is upgraded to v2.4). An ID3v1
  trailer is left byte-identical (frames are not merged from it).
* Vorbis comments (FLAC, Ogg Vorbis, Opus): ``MTAT_LABELS`` once per label (Vorbis comments
  are multi-valued by design, as ARTIST=... twice is), ``MTAT_MODEL``, ``MTAT_MODEL_VERSION``;
  genre in ``GENRE`` (one value each).
* MP4 (M4A): freeform atoms ``----:com.mtat-tagger:labels`` (one UTF-8 value per label),
  ``----:com.mtat-tagger:model``, ``----:com.mtat-tagger:model_version``; genre in ``©gen``.

No label decided: the labels field is removed and the model fields are still written (the file
was tagged, nothing was decided). A rerun sets the same fields again (nothing duplicated) and
leaves the file untouched when nothing changes. ``genre``, when given, goes to the standard genre
field only where the file has none, or over it with ``overwrite_genre=True``.

Safety: the original is never edited in place. mutagen edits a copy in the same folder, which is
fsynced and renamed over the original (:func:`tagging.files.atomic_edit`, keeping its mode); any
failure leaves the original byte-identical and no copy behind. The rename makes a new inode:
hard links to the old file keep the old content. Symlinks are followed (the target is tagged).

Every per-file problem raises one :class:`FileTagError` (read-only, unsupported, damaged, write
failed) whose message says what was wrong; :func:`write_tags_batch` reports it and goes on.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.id3 import TCON, TXXX, Encoding
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4, AtomDataType, MP4FreeForm
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from tagging.files import atomic_edit

FIELDS: tuple[str, ...] = ("labels", "model", "model_version", "genre")
VORBIS_KEYS = {
    "labels": "MTAT_LABELS",
    "model": "MTAT_MODEL",
    "model_version": "MTAT_MODEL_VERSION",
    "genre": "GENRE",
}
ID3_KEYS = {f: f"TXXX:{VORBIS_KEYS[f]}" for f in FIELDS[:3]} | {"genre": "TCON"}
MP4_MEAN = "com.mtat-tagger"
MP4_KEYS = {f: f"----:{MP4_MEAN}:{f}" for f in FIELDS[:3]} | {"genre": "\xa9gen"}
LABEL_SEPARATOR = "; "
SUPPORTED = "MP3, FLAC, Ogg Vorbis, Opus, M4A, WAV, AIFF"


class FileTagError(Exception):
    """One file could not be tagged; ``reason`` says why. The file is unchanged."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ReadOnlyFileError(FileTagError):
    """The file (or its folder) may not be written."""


class UnsupportedFileError(FileTagError):
    """Not a file format this writer tags."""


class DamagedFileError(FileTagError):
    """A supported format whose metadata cannot be parsed."""


class WriteFailedError(FileTagError):
    """Writing the tagged copy failed (full disk, I/O error); the original is intact."""


@dataclass(frozen=True)
class FieldChange:
    """One field set (``new``) or removed (``new == ()``); ``key`` as the tag format names it."""

    field: str
    key: str
    old: tuple[str, ...]
    new: tuple[str, ...]


@dataclass(frozen=True)
class TagResult:
    """What :func:`write_tags` did to one file (or would do, with ``dry_run``)."""

    path: Path
    container: str  # "mp3", "flac", "ogg vorbis", "opus", "m4a", "wav", "aiff"
    tag_format: str  # "ID3v2.3", "ID3v2.4", "Vorbis comment", "MP4"
    changes: tuple[FieldChange, ...]
    written: bool
    dry_run: bool
    genre_kept: tuple[str, ...] = ()  # an existing genre left in place (no overwrite_genre)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


# ------------------------------------------------------------------------------- tag formats
class _Id3:
    """ID3v2 in MP3, WAV and AIFF; frames loaded untranslated so they are written back as read."""

    keys = ID3_KEYS

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def open(self, path: Path) -> Any:
        audio = self.cls(path, translate=False, load_v1=False)
        if audio.tags is not None and audio.tags.version < (2, 3, 0):
            audio = self.cls(path, load_v1=False)  # v2.2 frames upgraded to v2.4 ones
        return audio

    def version(self, audio: Any) -> int:
        tags = audio.tags
        return 3 if tags is not None and tags.version[:2] == (2, 3) else 4

    def tag_format(self, audio: Any) -> str:
        return f"ID3v2.{self.version(audio)}"

    def get(self, audio: Any, field: str) -> tuple[str, ...]:
        if audio.tags is None:
            return ()
        return tuple(str(t) for frame in audio.tags.getall(self.keys[field]) for t in frame.text)

    def encode(self, field: str, values: Sequence[str]) -> tuple[str, ...]:
        if field == "labels" and values:
            return (LABEL_SEPARATOR.join(values),)
        return tuple(values)

    def set(self, audio: Any, field: str, values: tuple[str, ...]) -> None:
        if audio.tags is None:
            audio.add_tags()
        key = self.keys[field]
        audio.tags.delall(key)
        if not values:
            return
        if field == "genre":
            audio.tags.add(TCON(encoding=Encoding.UTF8, text=list(values)))
        else:
            desc = key.split(":", 1)[1]
            audio.tags.add(TXXX(encoding=Encoding.UTF8, desc=desc, text=list(values)))

    def save(self, audio: Any, path: Path) -> None:
        version = self.version(audio)
        if self.cls is not MP3:
            audio.save(path, v2_version=version)
            return
        trailer = _id3v1_trailer(path)
        audio.save(path, v1=1, v2_version=version)  # 1: an existing ID3v1 is rewritten, not added
        if trailer is not None:  # put the original ID3v1 bytes back
            with open(path, "r+b") as f:
                f.seek(-128, os.SEEK_END)
                f.write(trailer)


def _id3v1_trailer(path: Path) -> bytes | None:
    with open(path, "rb") as f:
        if f.seek(0, os.SEEK_END) < 128:
            return None
        f.seek(-128, os.SEEK_END)
        data = f.read(128)
    return data if data.startswith(b"TAG") else None


class _Vorbis:
    """Vorbis comments in FLAC, Ogg Vorbis and Opus: case-insensitive, multi-valued keys."""

    keys = VORBIS_KEYS

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def open(self, path: Path) -> Any:
        return self.cls(path)

    def tag_format(self, audio: Any) -> str:
        return "Vorbis comment"

    def get(self, audio: Any, field: str) -> tuple[str, ...]:
        return () if audio.tags is None else tuple(audio.tags.get(self.keys[field], []))

    def encode(self, field: str, values: Sequence[str]) -> tuple[str, ...]:
        return tuple(values)

    def set(self, audio: Any, field: str, values: tuple[str, ...]) -> None:
        if audio.tags is None:
            audio.add_tags()
        key = self.keys[field]
        if values:
            audio.tags[key] = list(values)
        elif key in audio.tags:
            del audio.tags[key]

    def save(self, audio: Any, path: Path) -> None:
        audio.save(path)


class _Mp4:
    """iTunes-style MP4 metadata: freeform ``----`` atoms for our fields, ``©gen`` for genre."""

    keys = MP4_KEYS

    def open(self, path: Path) -> Any:
        return MP4(path)

    def tag_format(self, audio: Any) -> str:
        return "MP4"

    def get(self, audio: Any, field: str) -> tuple[str, ...]:
        if audio.tags is None:
            return ()
        values = audio.tags.get(self.keys[field], [])
        if field == "genre":
            return tuple(str(v) for v in values)
        return tuple(bytes(v).decode("utf-8", "replace") for v in values)

    def encode(self, field: str, values: Sequence[str]) -> tuple[str, ...]:
        return tuple(values)

    def set(self, audio: Any, field: str, values: tuple[str, ...]) -> None:
        if audio.tags is None:
            audio.add_tags()
        key = self.keys[field]
        if not values:
            audio.tags.pop(key, None)
        elif field == "genre":
            audio.tags[key] = list(values)
        else:
            audio.tags[key] = [MP4FreeForm(v.encode(), AtomDataType.UTF8) for v in values]

    def save(self, audio: Any, path: Path) -> None:
        audio.save(path)


FORMATS: dict[type, tuple[str, Any]] = {
    MP3: ("mp3", _Id3(MP3)),
    WAVE: ("wav", _Id3(WAVE)),
    AIFF: ("aiff", _Id3(AIFF)),
    FLAC: ("flac", _Vorbis(FLAC)),
    OggVorbis: ("ogg vorbis", _Vorbis(OggVorbis)),
    OggOpus: ("opus", _Vorbis(OggOpus)),
    MP4: ("m4a", _Mp4()),
}


# ------------------------------------------------------------------------------------- public
def _detect(path: Path) -> tuple[str, Any, Any]:
    """(container, tag format handler, parsed file) or the file's :class:`FileTagError`."""
    if not path.is_file():
        raise FileTagError(path, "no such file")
    try:
        probe = mutagen.File(path)
    except PermissionError as exc:
        raise ReadOnlyFileError(path, f"cannot read it ({exc.strerror})") from exc
    except Exception as exc:  # mutagen raises many types for broken headers
        raise DamagedFileError(path, f"damaged or truncated metadata ({exc})") from exc
    if probe is None:
        raise UnsupportedFileError(path, f"not a recognised audio file (supported: {SUPPORTED})")
    if type(probe) not in FORMATS:
        raise UnsupportedFileError(
            path, f"{type(probe).__name__} files are not supported (supported: {SUPPORTED})"
        )
    container, handler = FORMATS[type(probe)]
    if container in ("wav", "aiff"):
        _check_container_size(path, little_endian=container == "wav")
    try:
        return container, handler, handler.open(path)
    except Exception as exc:
        raise DamagedFileError(path, f"damaged {container} metadata ({exc})") from exc


def _check_container_size(path: Path, little_endian: bool) -> None:
    """A RIFF (WAV) / FORM (AIFF) header states the file's size; a file shorter than that was
    cut off, and mutagen would append its ID3 chunk after the cut, past what readers parse."""
    with open(path, "rb") as f:
        header = f.read(8)
    declared = int.from_bytes(header[4:8], "little" if little_endian else "big") + 8
    actual = path.stat().st_size
    if len(header) < 8 or declared > actual:
        raise DamagedFileError(
            path, f"truncated: its header declares {declared} bytes, the file has {actual}"
        )


def _check_writable(path: Path) -> None:
    """Refuse a read-only file (mode bits too: root may write anything, but should not here)
    and a folder where the copy cannot be made."""
    if not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise ReadOnlyFileError(path, "the file is read-only")
    if not os.access(path, os.W_OK):
        raise ReadOnlyFileError(path, "no permission to write the file")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ReadOnlyFileError(path, f"no permission to write in its folder {path.parent}")


def _plan(
    handler: Any,
    audio: Any,
    wanted: dict[str, tuple[str, ...]],
    genre: Sequence[str] | None,
    overwrite_genre: bool,
) -> tuple[list[FieldChange], tuple[str, ...]]:
    changes, kept = [], ()
    targets = dict(wanted)
    if genre:
        existing = handler.get(audio, "genre")
        if existing and not overwrite_genre:
            kept = existing
        else:
            targets["genre"] = handler.encode("genre", genre)
    for field, new in targets.items():
        old = handler.get(audio, field)
        if old != new:
            changes.append(FieldChange(field, handler.keys[field], old, new))
    return changes, kept


def write_tags(
    path: str | Path,
    labels: Sequence[str],
    model: str,
    model_version: str,
    *,
    genre: Sequence[str] | None = None,
    overwrite_genre: bool = False,
    dry_run: bool = False,
) -> TagResult:
    """Write ``labels``, ``model`` and ``model_version`` (and ``genre``) into ``path``'s tags.

    Returns what changed; with ``dry_run`` what would change, nothing written (a read-only,
    unsupported or damaged file raises as the real run would). Raises :class:`FileTagError`.
    """
    path = Path(os.path.realpath(path))
    container, handler, audio = _detect(path)
    wanted = {
        "labels": handler.encode("labels", list(labels)),
        "model": (model,),
        "model_version": (model_version,),
    }
    changes, kept = _plan(handler, audio, wanted, genre, overwrite_genre)
    _check_writable(path)
    result = TagResult(
        path, container, handler.tag_format(audio), tuple(changes), False, dry_run, kept
    )
    if dry_run or not changes:
        return result
    try:
        with atomic_edit(path) as tmp:
            copy = handler.open(tmp)
            for change in changes:
                handler.set(copy, change.field, change.new)
            handler.save(copy, tmp)
    except OSError as exc:
        raise WriteFailedError(path, f"writing the tagged copy failed ({exc}); unchanged") from exc
    except mutagen.MutagenError as exc:
        raise WriteFailedError(path, f"mutagen could not save the tags ({exc}); unchanged") from exc
    return TagResult(path, container, result.tag_format, tuple(changes), True, False, kept)


def read_tags(path: str | Path) -> dict[str, tuple[str, ...]]:
    """The four fields as stored (``labels`` split back into labels for ID3)."""
    path = Path(path)
    _, handler, audio = _detect(path)
    out = {field: handler.get(audio, field) for field in FIELDS}
    if isinstance(handler, _Id3) and out["labels"]:
        out["labels"] = tuple(out["labels"][0].split(LABEL_SEPARATOR))
    return out


def write_tags_batch(
    jobs: Iterable[tuple[str | Path, Sequence[str]]],
    model: str,
    model_version: str,
    **options: Any,
) -> list[TagResult | FileTagError]:
    """:func:`write_tags` for each ``(path, labels)``; a file's :class:`FileTagError` is its
    entry in the list and the batch goes on. ``options``: ``genre``, ``overwrite_genre``,
    ``dry_run``."""
    results: list[TagResult | FileTagError] = []
    for path, labels in jobs:
        try:
            results.append(write_tags(path, labels, model, model_version, **options))
        except FileTagError as exc:
            results.append(exc)
    return results
