"""MTAT top-10 label statistics the generator samples from, and the model that samples them."""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from tagging.constants import TOP10_TAGS
from training.constants import data_file

STATS_FILE = "mtat_top10_stats.json"
LABELS_FILE = "mtat_top10_labels.tsv"
MTAT_N_CLIPS = 25_863
"""Rows of MTAT's ``annotations_final.csv`` (clips with and without a top-10 tag)."""


def derive_stats(labels_tsv: Path | None = None, n_mtat_clips: int = MTAT_N_CLIPS) -> dict:
    """Summarise the real MTAT top-10 label table into the small JSON the generator samples from.

    ``labels_tsv``: tab-separated, header ``clip_id``, the ten tags, ``mp3_path``, ``robak_split``;
    one row per MTAT clip with at least one top-10 tag. Clips absent from it have none of the ten.
    """
    path = Path(labels_tsv) if labels_tsv is not None else data_file(LABELS_FILE)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    missing = [t for t in (*TOP10_TAGS, "mp3_path") if rows and t not in rows[0]]
    if not rows or missing:
        raise ValueError(f"{path}: not an MTAT top-10 label table (missing columns {missing})")
    y = np.array([[int(r[t]) for t in TOP10_TAGS] for r in rows], dtype=np.int64)  # (N, 10)
    n_tagged = len(rows)
    combos = Counter("+".join(t for t, v in zip(TOP10_TAGS, row, strict=True) if v) for row in y)
    co = (y.T @ y).tolist()  # (10, 10) pairwise co-occurrence counts, diagonal = tag counts
    # Song length in segments: the last segment's end time / 29 s (a lower bound per song).
    song_end: dict[str, int] = {}
    for r in rows:
        m = re.match(r"(.*)-(\d+)-(\d+)\.mp3$", r["mp3_path"])
        if m:
            song_end[m.group(1)] = max(song_end.get(m.group(1), 0), int(m.group(3)))
    seg_hist = Counter(max(1, round(e / 29)) for e in song_end.values())
    return {
        "source": (
            "Derived by training.data.synth.labels.derive_stats from "
            "training/data/mtat_top10_labels.tsv: real "
            "MagnaTagATune top-10 labels (Law et al. 2009, ISMIR) via Robak132/LabelThisSongForMe "
            "and jordipons/musicnn-training."
        ),
        "licence": (
            "CC BY-NC-SA 3.0 (MTAT annotations; audio from Magnatune, CC BY-NC-SA 1.0): "
            "non-commercial, attribute, share alike. See training/data/SOURCES.md."
        ),
        "tags": list(TOP10_TAGS),
        "n_mtat_clips": n_mtat_clips,
        "n_tagged_clips": n_tagged,
        "share_untagged": round(1.0 - n_tagged / n_mtat_clips, 6),
        "tag_counts": {t: int(c) for t, c in zip(TOP10_TAGS, y.sum(0), strict=True)},
        "tag_marginals": {
            t: round(int(c) / n_mtat_clips, 6) for t, c in zip(TOP10_TAGS, y.sum(0), strict=True)
        },
        "cooccurrence": co,
        "combinations": dict(sorted(combos.items(), key=lambda kv: (-kv[1], kv[0]))),
        "song_segments_histogram": {str(k): v for k, v in sorted(seg_hist.items())},
    }


@lru_cache(maxsize=4)
def load_stats(path: str | None = None) -> dict:
    """The committed statistics (``training/data/mtat_top10_stats.json`` by default)."""
    p = Path(path) if path is not None else data_file(STATS_FILE)
    stats = json.loads(p.read_text())
    if stats.get("tags") != list(TOP10_TAGS) or not stats.get("combinations"):
        raise ValueError(f"{p}: statistics do not match TOP10_TAGS")
    return stats


class LabelModel:
    """Latent tag sets drawn from MTAT's combination distribution; written = latent minus drops."""

    def __init__(self, stats: dict, label_drop: float) -> None:
        combos = stats["combinations"]
        self.sets = [tuple(k.split("+")) for k in combos]
        counts = np.array(list(combos.values()), dtype=np.float64)
        self.probs = counts / counts.sum()
        # Dropping tags turns some tagged clips into untagged ones; lower the latent share of
        # untagged songs so the *written* share matches MTAT's (~36 %).
        e_all_dropped = float(
            np.sum(self.probs * label_drop ** np.array([len(s) for s in self.sets]))
        )
        target = float(stats["share_untagged"])
        self.p_none = max(0.0, (target - e_all_dropped) / (1.0 - e_all_dropped))
        hist = stats["song_segments_histogram"]
        self.seg_values = np.array([int(k) for k in hist])
        self.seg_probs = np.array(list(hist.values()), dtype=np.float64)
        self.seg_probs /= self.seg_probs.sum()

    def latent(self, rng: np.random.Generator) -> tuple[str, ...]:
        """One song's latent tags (canonical order), or none."""
        if rng.random() < self.p_none:
            return ()
        s = self.sets[int(rng.choice(len(self.sets), p=self.probs))]
        return tuple(t for t in TOP10_TAGS if t in s)  # canonical order

    def segments(self, rng: np.random.Generator, cap: int) -> int:
        """One song's length in segments, at most ``cap``."""
        return int(min(cap, rng.choice(self.seg_values, p=self.seg_probs)))


def main(argv: list[str] | None = None) -> None:
    """``python -m training.data.synth --derive-stats``: rewrite the JSON from the TSV."""
    p = argparse.ArgumentParser(
        prog="python -m training.data.synth",
        description="derive training/data/mtat_top10_stats.json",
    )
    p.add_argument("--derive-stats", action="store_true", required=True)
    p.add_argument(
        "--labels", type=Path, default=None, help=f"default: training/data/{LABELS_FILE}"
    )
    p.add_argument("--out", type=Path, default=None, help=f"default: training/data/{STATS_FILE}")
    a = p.parse_args(argv)
    stats = derive_stats(a.labels)
    out = a.out or data_file(STATS_FILE)
    out.write_text(json.dumps(stats, indent=1) + "\n")
    print(
        f"wrote {out}: {stats['n_tagged_clips']} tagged clips, {len(stats['combinations'])} combinations"
    )
