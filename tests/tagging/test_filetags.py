"""Tags written into every writable format: our fields appear, nothing else changes.

Each file is encoded here with FFmpeg (tests/audio_formats.py) and given pre-existing tags and,
where the format carries one, a ~300 KB cover with mutagen or by hand (ID3 bytes). For each:
decoded audio equal before/after, every other tag unchanged, reruns idempotent, the genre rules,
read-only, damaged and crash-mid-write files left byte-identical.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from mutagen.aiff import AIFF
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3, TIT2, TPE1, Encoding
from mutagen.mp4 import MP4, MP4Cover
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from tagging import files as files_module
from tagging.audio import decode
from tagging.filetags import (
    DamagedFileError,
    FileTagError,
    ReadOnlyFileError,
    UnsupportedFileError,
    WriteFailedError,
    read_tags,
    write_tags,
    write_tags_batch,
)
from tests.audio_formats import encode, id3v1, id3v2, mp3

COVER = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + np.random.default_rng(7).bytes(300_000) + b"\xff\xd9"
LABELS = ["classical", "strings"]
MODEL, VERSION = "won_musicnn", "1.0.0+abc123"


def _id3_frames(audio_cls: type, path: Path) -> None:
    audio = audio_cls(path)
    if audio.tags is None:
        audio.add_tags()
    audio.tags.add(TIT2(encoding=Encoding.UTF8, text=["Existing title"]))
    audio.tags.add(TPE1(encoding=Encoding.UTF8, text=["Existing artist"]))
    audio.tags.add(APIC(encoding=Encoding.UTF8, mime="image/jpeg", type=3, desc="c", data=COVER))
    audio.save()


def _vorbis(audio_cls: type, path: Path, picture: bool) -> None:
    audio = audio_cls(path)
    if audio.tags is None:
        audio.add_tags()
    audio.tags["TITLE"] = ["Existing title"]
    audio.tags["ARTIST"] = ["Artist one", "Artist two"]
    if picture:
        pic = Picture()
        pic.type, pic.mime, pic.data = 3, "image/jpeg", COVER
        audio.add_picture(pic)
    audio.save()


def _m4a(path: Path) -> None:
    audio = MP4(path)
    if audio.tags is None:
        audio.add_tags()
    audio.tags["\xa9nam"] = ["Existing title"]
    audio.tags["\xa9ART"] = ["Existing artist"]
    audio.tags["covr"] = [MP4Cover(COVER, MP4Cover.FORMAT_JPEG)]
    audio.save()


@functools.cache
def _mp3_audio() -> bytes:
    return mp3(44100, "stereo", bit_rate=128_000)


# name -> (file name, bytes, how to add the pre-existing tags)
BUILDERS: dict[str, tuple[str, Callable[[], bytes], Callable[[Path], None] | None]] = {
    "mp3_id3v23_cover": ("a.mp3", lambda: id3v2(3, "Cover 2.3", 300_000) + _mp3_audio(), None),
    "mp3_id3v24_cover_id3v1": (
        "b.mp3",
        lambda: id3v2(4, "Cover 2.4", 300_000) + _mp3_audio() + id3v1("Trailer"),
        None,
    ),
    "mp3_untagged": ("c.mp3", _mp3_audio, None),
    "flac": (
        "a.flac",
        lambda: encode("flac", "flac", 44100),
        lambda p: _vorbis(FLAC, p, picture=True),
    ),
    "ogg_vorbis": (
        "a.ogg",
        lambda: encode("ogg", "vorbis", 44100),
        lambda p: _vorbis(OggVorbis, p, picture=False),
    ),
    "opus": (
        "a.opus",
        lambda: encode("ogg", "libopus", 48000),
        lambda p: _vorbis(OggOpus, p, picture=False),
    ),
    "m4a_aac": ("a.m4a", lambda: encode("ipod", "aac", 44100), _m4a),
    "wav": ("a.wav", lambda: encode("wav", "pcm_s16le", 44100), lambda p: _id3_frames(WAVE, p)),
    "aiff": (
        "a.aiff",
        lambda: encode("aiff", "pcm_s16be", 44100),
        lambda p: _id3_frames(AIFF, p),
    ),
}
CASES = list(BUILDERS)
OURS = {
    "TXXX:MTAT_LABELS", "TXXX:MTAT_MODEL", "TXXX:MTAT_MODEL_VERSION", "TCON",
    "MTAT_LABELS", "MTAT_MODEL", "MTAT_MODEL_VERSION", "GENRE",
    "----:com.mtat-tagger:labels", "----:com.mtat-tagger:model",
    "----:com.mtat-tagger:model_version", "\xa9gen",
}  # fmt: skip


@functools.cache
def _case_bytes(name: str, tmp_root: str) -> bytes:
    filename, build, add_tags = BUILDERS[name]
    path = Path(tmp_root) / f"build-{filename}"
    path.write_bytes(build())
    if add_tags is not None:
        add_tags(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("filetags_build"))


def make(name: str, folder: Path, build_dir: str) -> Path:
    path = folder / BUILDERS[name][0]
    path.write_bytes(_case_bytes(name, build_dir))
    return path


def other_tags(path: Path) -> dict[str, str]:
    """mutagen's view of every tag except the fields this writer owns (values as repr)."""
    if path.suffix == ".mp3":
        try:
            tags = ID3(path, translate=False, load_v1=False)
        except Exception:
            return {}
        return {f.HashKey: repr(f) for f in tags.values() if f.HashKey not in OURS}
    cls = {".flac": FLAC, ".ogg": OggVorbis, ".opus": OggOpus, ".m4a": MP4, ".wav": WAVE,
           ".aiff": AIFF}[path.suffix]  # fmt: skip
    audio = cls(path, translate=False) if cls in (WAVE, AIFF) else cls(path)
    out: dict[str, str] = {}
    if audio.tags is not None and cls in (WAVE, AIFF):
        out = {f.HashKey: repr(f) for f in audio.tags.values() if f.HashKey not in OURS}
    elif audio.tags is not None:
        for key in audio.tags.keys():  # noqa: SIM118 (VComment iterates as (key, value) pairs)
            if key.upper() not in OURS and key not in OURS:
                out[key] = repr(audio.tags[key])
    if cls is FLAC:
        out["pictures"] = repr([(p.type, p.mime, p.data) for p in audio.pictures])
    return out


def id3_end(data: bytes) -> int:
    """Offset of the first byte after the ID3v2 tag (0 without one)."""
    if not data.startswith(b"ID3"):
        return 0
    size = 0
    for b in data[6:10]:
        size = (size << 7) | b
    return 10 + size


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("name", CASES)
def test_write_keeps_audio_and_other_tags(name: str, tmp_path: Path, build_dir: str) -> None:
    path = make(name, tmp_path, build_dir)
    os.chmod(path, 0o640)
    before, audio_before, others = path.read_bytes(), decode(path), other_tags(path)

    result = write_tags(path, LABELS, MODEL, VERSION)
    assert result.written and result.changed and not result.dry_run
    assert {c.field for c in result.changes} == {"labels", "model", "model_version"}
    assert read_tags(path) == {
        "labels": tuple(LABELS), "model": (MODEL,), "model_version": (VERSION,), "genre": (),
    }  # fmt: skip
    assert np.array_equal(decode(path), audio_before)
    assert other_tags(path) == others
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert files_in(tmp_path) == [path.name]
    after = path.read_bytes()
    if name.startswith("mp3"):
        assert after[id3_end(after) :] == before[id3_end(before) :]  # audio frames + ID3v1
    if name == "mp3_id3v23_cover":
        assert result.tag_format == "ID3v2.3" and after[3] == 3
    if name in ("mp3_id3v24_cover_id3v1", "mp3_untagged"):
        assert result.tag_format == "ID3v2.4" and after[3] == 4


@pytest.mark.parametrize("name", CASES)
def test_rerun_replaces_own_fields_without_duplicates(
    name: str, tmp_path: Path, build_dir: str
) -> None:
    path = make(name, tmp_path, build_dir)
    write_tags(path, LABELS, MODEL, VERSION, genre=["classical"])
    once = path.read_bytes()
    again = write_tags(path, LABELS, MODEL, VERSION, genre=["classical"])
    assert not again.changed and not again.written
    assert path.read_bytes() == once  # nothing to change: the file is not rewritten

    third = write_tags(path, ["rock"], MODEL, "2.0.0")
    assert {c.field for c in third.changes} == {"labels", "model_version"}
    tags = read_tags(path)
    assert tags["labels"] == ("rock",) and tags["model_version"] == ("2.0.0",)
    assert tags["model"] == (MODEL,) and tags["genre"] == ("classical",)

    write_tags(path, [], MODEL, "2.0.0")  # nothing decided: the labels field goes
    assert read_tags(path)["labels"] == ()


@pytest.mark.parametrize("name", CASES)
def test_genre_is_added_but_never_replaced_unless_asked(
    name: str, tmp_path: Path, build_dir: str
) -> None:
    path = make(name, tmp_path, build_dir)
    first = write_tags(path, LABELS, MODEL, VERSION, genre=["Classical"])
    assert read_tags(path)["genre"] == ("Classical",) and first.genre_kept == ()

    kept = write_tags(path, ["rock"], MODEL, VERSION, genre=["Rock"])
    assert kept.genre_kept == ("Classical",)
    assert "genre" not in {c.field for c in kept.changes}
    assert read_tags(path)["genre"] == ("Classical",)

    replaced = write_tags(path, ["rock"], MODEL, VERSION, genre=["Rock"], overwrite_genre=True)
    assert [c.new for c in replaced.changes if c.field == "genre"] == [("Rock",)]
    assert read_tags(path)["genre"] == ("Rock",)


@pytest.mark.parametrize("name", CASES)
def test_dry_run_reports_without_writing(name: str, tmp_path: Path, build_dir: str) -> None:
    path = make(name, tmp_path, build_dir)
    before = path.read_bytes()
    result = write_tags(path, LABELS, MODEL, VERSION, genre=["Classical"], dry_run=True)
    assert result.dry_run and not result.written
    assert {c.field: c.old for c in result.changes} == {
        "labels": (), "model": (), "model_version": (), "genre": (),
    }  # fmt: skip
    assert path.read_bytes() == before and files_in(tmp_path) == [path.name]


@pytest.mark.parametrize("name", CASES)
def test_read_only_file_is_refused(name: str, tmp_path: Path, build_dir: str) -> None:
    path = make(name, tmp_path, build_dir)
    before = path.read_bytes()
    os.chmod(path, 0o444)
    with pytest.raises(ReadOnlyFileError, match="read-only"):
        write_tags(path, LABELS, MODEL, VERSION)
    assert path.read_bytes() == before and files_in(tmp_path) == [path.name]


@pytest.mark.parametrize("name", CASES)
def test_damaged_file_is_refused(name: str, tmp_path: Path, build_dir: str) -> None:
    path = make(name, tmp_path, build_dir)
    # an MP3 of silence bytes (no frame to sync to); the others cut inside their metadata
    damaged = bytes(4096) if name.startswith("mp3") else path.read_bytes()[:100]
    path.write_bytes(damaged)
    with pytest.raises(DamagedFileError) as info:
        write_tags(path, LABELS, MODEL, VERSION)
    assert str(path) in str(info.value) and info.value.reason
    assert path.read_bytes() == damaged and files_in(tmp_path) == [path.name]


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("fail_at", ["copy", "replace"])
def test_crash_mid_write_leaves_the_original(
    name: str, fail_at: str, tmp_path: Path, build_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make(name, tmp_path, build_dir)
    before = path.read_bytes()

    def disk_full(*args: object, **kwargs: object) -> None:
        if fail_at == "copy":  # half the file copied, then the disk is full
            src, dst = args[0], args[1]
            dst.write(src.read(len(before) // 2))  # type: ignore[union-attr]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    target = "copyfileobj" if fail_at == "copy" else "replace"
    module = files_module.shutil if fail_at == "copy" else files_module.os
    monkeypatch.setattr(module, target, disk_full)
    with pytest.raises(WriteFailedError, match="No space left on device"):
        write_tags(path, LABELS, MODEL, VERSION)
    monkeypatch.undo()
    assert path.read_bytes() == before and files_in(tmp_path) == [path.name]


def test_mutagen_failure_mid_save_leaves_the_original(
    tmp_path: Path, build_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make("flac", tmp_path, build_dir)
    before = path.read_bytes()

    def boom(self: FLAC, *args: object, **kwargs: object) -> None:
        with open(args[0], "r+b") as f:  # a partial write on the copy, then a crash
            f.write(b"garbage")
        raise KeyboardInterrupt

    monkeypatch.setattr(FLAC, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        write_tags(path, LABELS, MODEL, VERSION)
    assert path.read_bytes() == before and files_in(tmp_path) == [path.name]


def test_unsupported_formats_and_batch_goes_on(tmp_path: Path, build_dir: str) -> None:
    good = make("flac", tmp_path, build_dir)
    text = tmp_path / "notes.txt"
    text.write_text("not audio\n" * 50)
    wma = tmp_path / "a.wma"
    wma.write_bytes(encode("asf", "wmav2", 44100, bit_rate=128_000))
    results = write_tags_batch([(text, ["rock"]), (wma, ["rock"]), (good, ["rock"])], MODEL, "1")
    assert isinstance(results[0], UnsupportedFileError) and "not a recognised" in str(results[0])
    assert isinstance(results[1], UnsupportedFileError) and "ASF" in str(results[1])
    assert isinstance(results[2], FileTagError) is False and results[2].written
    assert read_tags(good)["labels"] == ("rock",)


def test_symlink_tags_the_target(tmp_path: Path, build_dir: str) -> None:
    target = make("opus", tmp_path, build_dir)
    link = tmp_path / "link.opus"
    link.symlink_to(target)
    write_tags(link, LABELS, MODEL, VERSION)
    assert link.is_symlink() and read_tags(target)["labels"] == tuple(LABELS)
    assert sorted(files_in(tmp_path)) == ["a.opus", "link.opus"]


def test_copy_of_build_dir_is_untouched(build_dir: str) -> None:
    """The cached source files are never edited by the tests above (each test copies them)."""
    for name in CASES:
        assert (Path(build_dir) / f"build-{BUILDERS[name][0]}").read_bytes() == _case_bytes(
            name, build_dir
        )
    shutil.rmtree(build_dir, ignore_errors=True)
