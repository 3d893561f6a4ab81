"""Synthetic MTAT writer: on-disk format, names and folders, decodable MP3s, determinism, marker."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from tagging.audio import decode
from tagging.constants import SAMPLE_RATE, TOP10_TAGS
from training.constants import MTAT_FOLDERS, mtat_tag_columns
from training.data.synth import plan_dataset, render_clip, segment_bounds, synthesize

SECONDS = 5.0
N_CLIPS = 24
NAME_RE = re.compile(r"^[0-9a-f]/[a-z0-9_]+-[a-z0-9_]+-\d\d-[a-z0-9_]+-\d+-\d+\.mp3$")


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("synth1")
    summary = synthesize(root, N_CLIPS, seed=3, seconds=SECONDS, workers=1, progress=False)
    return root, summary


def _rows(root: Path) -> list[list[str]]:
    with open(root / "annotations_final.csv", newline="", encoding="utf-8") as f:
        return list(csv.reader(f, delimiter="\t"))


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_annotations_file_has_mtat_format(synth_root) -> None:
    root, summary = synth_root
    raw = (root / "annotations_final.csv").read_text(encoding="utf-8").splitlines()
    assert raw[0].startswith('"clip_id"\t"') and raw[0].endswith('"mp3_path"')
    for line in raw[:3]:  # every field double-quoted, tab-separated
        fields = line.split("\t")
        assert len(fields) == 190
        assert all(f.startswith('"') and f.endswith('"') for f in fields)
    rows = _rows(root)
    header, body = rows[0], rows[1:]
    assert header == ["clip_id", *mtat_tag_columns(), "mp3_path"]
    assert len(mtat_tag_columns()) == 188 and len(body) == N_CLIPS == summary.n_clips
    ids = [int(r[0]) for r in body]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] == 2
    top10 = {header.index(t) for t in TOP10_TAGS}
    for r in body:
        assert set(r[1:-1]) <= {"0", "1"}
        assert all(r[i] == "0" for i in range(1, 189) if i not in top10)  # only top-10 labelled
    written = {t: sum(int(r[header.index(t)]) for r in body) for t in TOP10_TAGS}
    assert written == summary.tag_counts


def test_names_folders_and_songs(synth_root) -> None:
    root, _ = synth_root
    body = _rows(root)[1:]
    paths = [r[-1] for r in body]
    assert len(set(paths)) == len(paths)
    songs: dict[str, list[tuple[int, str]]] = {}
    for p in paths:
        assert NAME_RE.match(p), p
        assert (root / p).is_file()
        song, start, end = re.match(r"^(.*)-(\d+)-(\d+)\.mp3$", p).groups()
        assert int(end) - int(start) == int(SECONDS)
        songs.setdefault(song.split("/", 1)[1], []).append((int(start), p[0]))
    for segs in songs.values():  # one folder per song; consecutive segments 0-5, 6-11, 11-16
        assert len({f for _, f in segs}) == 1
        assert [s for s, _ in segs] == [segment_bounds(k, SECONDS)[0] for k in range(len(segs))]
    assert segment_bounds(1, 29.1) == (30, 59) and segment_bounds(2, 29.1) == (59, 88)
    # Songs spread evenly over the 16 folders (blocks of 16 songs use each folder once).
    plan = plan_dataset(400, seed=1, seconds=SECONDS)
    folders = {}
    for c in plan.clips:
        folders.setdefault(c.song, c.mp3_path[0])
    counts = np.array([list(folders.values()).count(f) for f in MTAT_FOLDERS])
    assert counts.min() >= counts.max() - 1


def test_mp3s_decode_to_16k_mono_of_requested_length(synth_root) -> None:
    root, _ = synth_root
    for p in sorted(root.rglob("*.mp3"))[:6]:
        x = decode(p)
        assert x.ndim == 1 and x.dtype == np.float32
        assert abs(len(x) / SAMPLE_RATE - SECONDS) <= 0.1
        rms = float(np.sqrt(np.mean(x**2)))
        assert 0.01 < rms < 0.5 and np.max(np.abs(x)) < 1.0


def test_deterministic_across_runs_and_worker_counts(synth_root, tmp_path: Path) -> None:
    root, _ = synth_root
    again = synthesize(tmp_path / "w2", N_CLIPS, seed=3, seconds=SECONDS, workers=2, progress=False)
    assert again.n_clips == N_CLIPS
    assert _digest(tmp_path / "w2") == _digest(root)  # LAME output is byte-deterministic
    other = plan_dataset(N_CLIPS, seed=4, seconds=SECONDS)
    assert [c.mp3_path for c in other.clips] != [
        c.mp3_path for c in plan_dataset(N_CLIPS, 3, SECONDS).clips
    ]


def test_bad_input_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_clips"):
        synthesize(tmp_path, 0, seed=0, progress=False)
    with pytest.raises(ValueError, match="workers"):
        synthesize(tmp_path, 4, seed=0, workers=0, progress=False)
    with pytest.raises(ValueError, match="unknown tags"):
        render_clip(("jazz",), 0, 0, 0, 2.0)


def test_root_is_marked_synthetic(synth_root, tmp_path: Path) -> None:
    from training.data.mtat import SYNTHETIC_MARKER, dataset_kind

    root, _ = synth_root
    info = json.loads((root / SYNTHETIC_MARKER).read_text())
    assert info["synthetic"] is True and info["generator"] == "training.data.synth"
    assert dataset_kind(root) == "synthetic"
    assert dataset_kind(tmp_path) == "mtat"
