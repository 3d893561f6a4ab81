"""prepare: decoding, skipped files, the cache format, resume after a kill, option changes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import training.data.prepare as prep
from tagging.audio import decode, encode_mp3, probe
from tagging.constants import SAMPLE_RATE
from tests.paths import DATA, REPO
from training.constants import KNOWN_BROKEN_CLIPS, mtat_tag_columns
from training.data.cache import CacheError, ClipCache
from training.data.mtat import ANNOTATIONS_FILE, write_annotations
from training.data.prepare import prepare

BROKEN_ID, BROKEN_PATH = next(iter(KNOWN_BROKEN_CLIPS.items()))


def make_root(root: Path, n_good: int = 20, seconds: float = 1.0, seed: int = 0) -> Path:
    """A tiny MTAT root: ``n_good`` tone MP3s over folders 0..f, plus one empty, one corrupt,
    one missing and one known-broken clip, with the real 188 tag columns."""
    cols = mtat_tag_columns()
    rng = np.random.default_rng(seed)
    ids, paths = [], []
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    for k in range(n_good):
        folder = "0123456789abcdef"[k % 16]
        rel = f"{folder}/artist-album-{k:02d}-track-0-29.mp3"
        (root / folder).mkdir(parents=True, exist_ok=True)
        x = 0.3 * np.sin(2 * np.pi * (150 + 40 * k) * t) + 0.02 * rng.standard_normal(len(t))
        encode_mp3(x, root / rel)
        ids.append(1000 + k)
        paths.append(rel)
    bad = {"e/empty-0-29.mp3": b"", "d/corrupt-0-29.mp3": rng.bytes(4096)}
    for rel, data in bad.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / BROKEN_PATH).parent.mkdir(parents=True, exist_ok=True)
    (root / BROKEN_PATH).write_bytes(b"")
    ids += [2001, 2002, 2003, BROKEN_ID]
    paths += [*bad, "f/missing-0-29.mp3", BROKEN_PATH]
    labels = (rng.random((len(ids), len(cols))) < 0.02).astype(int)
    labels[:, cols.index("guitar")] = np.arange(len(ids)) % 2  # a clear most-frequent tag
    labels[:, cols.index("classical")] = np.arange(len(ids)) % 3 == 0
    write_annotations(root / ANNOTATIONS_FILE, ids, paths, cols, labels)
    return root


def cache_contents(cache: Path) -> dict:
    """Everything a reader sees, minus run-specific ids/timings (for identity checks)."""
    out: dict = {}
    for split in ("train", "valid", "test"):
        m = json.loads((cache / f"{split}.json").read_text())
        m.pop("manifest_id")
        out[split] = m
        for f in m["files"]:
            out[f] = (cache / f).read_bytes()
    meta = json.loads((cache / "meta.json").read_text())
    for k in ("manifest_id", "created", "summary"):
        meta.pop(k)
    out["meta"] = meta
    return out


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("mtat"))


@pytest.fixture(scope="module")
def reference(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted prepare (in-process) of ``root``."""
    cache = tmp_path_factory.mktemp("ref") / "cache"
    prepare(root, cache, workers=1, progress=False)
    return cache


def test_real_mtat_clip_decodes_to_16k_mono_29s() -> None:
    x = decode(DATA / "joram-moments_of_clarity-08-solipsism-59-88.mp3")
    assert x.ndim == 1 and x.dtype == np.float32
    assert 29.1 <= len(x) / SAMPLE_RATE <= 29.3
    assert probe(DATA / "joram-moments_of_clarity-08-solipsism-59-88.mp3").samplerate == 16000
    assert 0.01 < float(np.abs(x).max()) <= 1.0


def test_44k_stereo_decodes_to_16k_mono_2s() -> None:
    info = probe(DATA / "jamendo_948_44k_stereo.mp3")
    assert (info.samplerate, info.channels) == (44100, 2)
    x = decode(DATA / "jamendo_948_44k_stereo.mp3")
    assert x.ndim == 1
    assert abs(len(x) / SAMPLE_RATE - 2.0) < 0.03


def test_prepare_skips_bad_files_and_writes_a_readable_cache(root: Path, reference: Path) -> None:
    meta = json.loads((reference / "meta.json").read_text())
    summary = meta["summary"]
    reasons = {s["path"]: s["reason"] for s in summary["skipped"]}
    assert set(reasons) == {
        "e/empty-0-29.mp3", "d/corrupt-0-29.mp3", "f/missing-0-29.mp3", BROKEN_PATH
    }  # fmt: skip
    assert reasons["e/empty-0-29.mp3"].startswith("empty file")
    assert reasons["d/corrupt-0-29.mp3"].startswith("decode failed")
    assert reasons["f/missing-0-29.mp3"] == "missing file"
    assert reasons[BROKEN_PATH].startswith("known broken")
    assert summary["n_cached"] == 20 and summary["n_clips"] == 24
    assert meta["tags"][:2] == ["guitar", "classical"] and len(meta["tags"]) == 10
    assert meta["sample_rate"] == 16000 and meta["options"]["top_k"] == 10

    train = ClipCache.open(reference, "train")
    valid = ClipCache.open(reference, "valid")
    test = ClipCache.open(reference, "test")
    assert len(train) + len(valid) + len(test) == 20
    assert {p[0] for p in train.paths} <= set("0123456789ab")
    assert set(valid.paths) == {"c/artist-album-12-track-0-29.mp3"}
    assert {p[0] for p in test.paths} <= set("def")
    assert train.labels.dtype == np.float32 and train.labels.shape == (len(train), 10)
    assert train.tags == tuple(meta["tags"])
    for i in range(len(train)):
        x = train.audio(i)
        assert x.dtype == np.float32 and len(x) == train.lengths[i]
        src = decode(root / train.paths[i])
        np.testing.assert_allclose(x, src, atol=1.0 / 32767 + 1e-6)
    assert abs(int(train.lengths[0]) - SAMPLE_RATE) < 0.05 * SAMPLE_RATE
    np.testing.assert_allclose(train.audio(0, 100, 200), train.audio(0)[100:200])


def test_worker_pool_gives_the_same_cache(root: Path, reference: Path, tmp_path: Path) -> None:
    summary = prepare(root, tmp_path / "c", workers=2, progress=False)
    assert summary.n_decoded == 21 and summary.n_cached == 20
    assert cache_contents(tmp_path / "c") == cache_contents(reference)


def test_cli_output_and_help(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from training.cli import build_parser, main

    assert main(["prepare", "--mtat-root", str(root), "--cache", str(tmp_path / "c"),
                 "--workers", "1", "--no-progress", "--top-k", "3", "--clean"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "skipped 4 file(s)" in out
    for name in ("e/empty-0-29.mp3", "d/corrupt-0-29.mp3", "f/missing-0-29.mp3", BROKEN_PATH):
        assert name in out
    helptext = build_parser("prepare")._subparsers._group_actions[0].choices["prepare"]
    assert "24 GB" in helptext.format_help()
    with pytest.raises(SystemExit, match="not found"):
        main(["prepare", "--mtat-root", str(tmp_path / "nope"), "--cache", str(tmp_path / "d")])


def test_reader_refuses_incomplete_cache(reference: Path, tmp_path: Path) -> None:
    with pytest.raises(CacheError, match="meta.json is missing.*rerun|prepare"):
        ClipCache.open(tmp_path, "train")
    cache = tmp_path / "cache"
    cache.mkdir()
    for f in ("train.json", "meta.json"):
        (cache / f).write_bytes((reference / f).read_bytes())
    meta = json.loads((cache / "meta.json").read_text())
    (cache / "meta.json").write_text(json.dumps({**meta, "manifest_id": "other"}))
    with pytest.raises(CacheError, match="stale or partial manifest"):
        ClipCache.open(cache, "train")
    del meta["complete"]
    (cache / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CacheError, match="incomplete"):
        ClipCache.open(cache, "train")
    with pytest.raises(ValueError, match="unknown split"):
        ClipCache.open(reference, "dev")


class _Killed(BaseException):
    """Stands in for a kill: not an Exception, so nothing on the way catches it."""


def test_resume_after_interruption_decodes_nothing_twice(
    root: Path, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    real_decode = prep.decode
    calls: list[str] = []

    def dying_decode(src, *args, **kwargs):
        if len(calls) == 7:
            raise _Killed
        calls.append(str(src))
        return real_decode(src, *args, **kwargs)

    monkeypatch.setattr(prep, "decode", dying_decode)
    with pytest.raises(_Killed):
        prepare(root, cache, workers=1, progress=False)
    assert not (cache / "meta.json").exists()
    with pytest.raises(CacheError, match="rerun|prepare"):
        ClipCache.open(cache, "train")
    first = list(calls)

    calls.clear()
    monkeypatch.setattr(
        prep, "decode", lambda src, *a, **k: (calls.append(str(src)), real_decode(src, *a, **k))[1]
    )
    summary = prepare(root, cache, workers=1, progress=False)
    # 20 good clips + the corrupt one are decoded exactly once over both runs.
    assert len(first) == 7 and not set(first) & set(calls)
    assert len(first) + len(calls) == 21
    assert summary.n_decoded == 14 and summary.n_reused == 7
    assert cache_contents(cache) == cache_contents(reference)

    # A third run decodes nothing, the failed (corrupt) clip included.
    calls.clear()
    mtimes = {p: p.stat().st_mtime_ns for p in (cache / "audio").rglob("*.npy")}
    summary = prepare(root, cache, workers=1, progress=False)
    assert calls == [] and summary.n_decoded == 0
    assert {p: p.stat().st_mtime_ns for p in (cache / "audio").rglob("*.npy")} == mtimes
    assert {s.path for s in summary.skipped} >= {"d/corrupt-0-29.mp3"}


def test_option_change_rebuilds_manifests_without_decoding(
    root: Path, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    prepare(root, cache, workers=1, progress=False)
    calls: list[str] = []
    real_decode = prep.decode
    monkeypatch.setattr(
        prep, "decode", lambda src, *a, **k: (calls.append(str(src)), real_decode(src, *a, **k))[1]
    )
    summary = prepare(
        root, cache, workers=1, top_k=2, merge_synonyms=True, clean=True, progress=False
    )
    assert calls == [] and summary.n_decoded == 0
    train = ClipCache.open(cache, "train")
    assert train.tags == ("guitar", "classical")
    assert train.labels.shape[1] == 2 and (train.labels.sum(1) > 0).all()
    assert len(train) < len(ClipCache.open(reference, "train"))
    meta = json.loads((cache / "meta.json").read_text())
    assert meta["options"] == {"top_k": 2, "merge_synonyms": True, "clean": True}
    assert "guitar" in meta["merged_synonyms"]


def test_changed_source_file_is_decoded_again(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src_root = make_root(tmp_path / "mtat", n_good=3)
    cache = tmp_path / "cache"
    prepare(src_root, cache, workers=1, progress=False)
    rel = "1/artist-album-01-track-0-29.mp3"
    encode_mp3(np.zeros(SAMPLE_RATE // 2, dtype=np.float32) + 0.1, src_root / rel)
    os.utime(src_root / rel, ns=(1, 1))
    calls: list[str] = []
    real_decode = prep.decode
    monkeypatch.setattr(
        prep, "decode", lambda src, *a, **k: (calls.append(str(src)), real_decode(src, *a, **k))[1]
    )
    prepare(src_root, cache, workers=1, progress=False)
    assert [Path(c).name for c in calls] == [Path(rel).name]
    train = ClipCache.open(cache, "train")
    assert train.lengths[list(train.paths).index(rel)] < 0.6 * SAMPLE_RATE


def test_killed_subprocess_resumes_to_identical_cache(
    root: Path, reference: Path, tmp_path: Path
) -> None:
    """SIGKILL a 2-worker CLI prepare midway, rerun it: complete, identical, nothing redone."""
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "training", "prepare", "--mtat-root", str(root),
           "--cache", str(cache), "--workers", "2", "--no-progress"]  # fmt: skip
    journal = cache / "journal.jsonl"
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.is_file() and journal.read_text().count("\n") >= 3:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(timeout=30)
    killed = proc.returncode == -signal.SIGKILL
    assert killed, "prepare finished before it could be killed"
    done_before = {
        json.loads(line)["clip_id"] for line in journal.read_text().splitlines() if line.strip()
    }
    assert not (cache / "meta.json").exists()
    with pytest.raises(CacheError):
        ClipCache.open(cache, "train")
    time.sleep(0.5)  # let orphaned spawn workers notice their parent is gone
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    summary = json.loads((cache / "meta.json").read_text())["summary"]
    assert summary["n_reused"] >= len(done_before) >= 3
    assert summary["n_decoded"] + summary["n_reused"] == 21
    lines = [
        json.loads(line)
        for line in journal.read_text().splitlines()
        if line.strip().startswith("{")
    ]
    ids = [e["clip_id"] for e in lines]
    assert len(ids) == len(set(ids)) == 21, "a clip was decoded twice"
    assert cache_contents(cache) == cache_contents(reference)
