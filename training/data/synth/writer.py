"""Writing a synthetic MTAT: the clips' MP3s (in parallel), ``annotations_final.csv``, the marker."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagging.audio import encode_mp3
from tagging.constants import TOP10_TAGS
from tagging.files import atomic_write_with
from training.constants import mtat_tag_columns
from training.data.mtat import ANNOTATIONS_FILE, write_annotations, write_synthetic_marker
from training.data.synth.plan import ClipPlan, SynthConfig, plan_dataset
from training.data.synth.render import render_clip


@dataclass
class SynthSummary:
    """What :func:`synthesize` wrote."""

    out_dir: Path
    n_clips: int
    n_songs: int
    seconds_per_clip: float
    tag_counts: dict[str, int]
    """Written (observed) labels per top-10 tag."""
    latent_tag_counts: dict[str, int]
    """Clips whose rendered audio carries the tag."""
    n_untagged: int
    """Clips written without any top-10 tag."""
    folder_counts: dict[str, int]
    seconds_taken: float
    workers: int

    @property
    def clips_per_second(self) -> float:
        return self.n_clips / self.seconds_taken if self.seconds_taken > 0 else float("inf")

    def describe(self) -> str:
        tags = ", ".join(f"{t} {c}" for t, c in self.tag_counts.items())
        return (
            f"wrote {self.n_clips} clips ({self.n_songs} songs, {self.seconds_per_clip:g} s each) to "
            f"{self.out_dir} in {self.seconds_taken:.1f} s ({self.clips_per_second:.2f} clips/s, "
            f"{self.workers} workers)\n  labels: {tags}; no top-10 tag: {self.n_untagged}"
        )


def _write_clip(job: tuple[Path, ClipPlan, int, float, int]) -> str:
    out_dir, clip, seed, seconds, sr = job
    audio = render_clip(clip.latent, seed, clip.song, clip.segment, seconds, sr)
    atomic_write_with(out_dir / clip.mp3_path, lambda f: encode_mp3(audio, f, sr))
    return clip.mp3_path


def synthesize(
    out_dir: Path,
    n_clips: int,
    seed: int,
    seconds: float = 29.1,
    workers: int = 1,
    progress: bool = True,
    config: SynthConfig | None = None,
) -> SynthSummary:
    """Write ``n_clips`` synthetic MTAT clips and ``annotations_final.csv`` under ``out_dir``.

    The result is identical for any ``workers`` (process pool when > 1).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    cfg = config or SynthConfig()
    t_start = time.perf_counter()
    plan = plan_dataset(n_clips, seed, seconds, cfg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(out_dir, c, seed, seconds, cfg.sample_rate) for c in plan.clips]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="synth", unit="clip")
    try:
        if workers == 1:
            for job in jobs:
                _write_clip(job)
                if bar is not None:
                    bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for _ in pool.map(_write_clip, jobs, chunksize=4):
                    if bar is not None:
                        bar.update()
    finally:
        if bar is not None:
            bar.close()
    columns = mtat_tag_columns()
    col = {t: i for i, t in enumerate(columns)}
    missing = [t for t in TOP10_TAGS if t not in col]
    if missing:
        raise RuntimeError(f"tag columns lack {missing}")
    labels = np.zeros((len(plan.clips), len(columns)), dtype=np.int64)
    for r, c in enumerate(plan.clips):
        for t in c.labels:
            labels[r, col[t]] = 1
    write_annotations(
        out_dir / ANNOTATIONS_FILE,
        [c.clip_id for c in plan.clips],
        [c.mp3_path for c in plan.clips],
        columns,
        labels,
    )
    # A marker so every later stage (prepare, export, model cards, the study) can say plainly
    # that its figures come from synthetic data. Real MTAT roots have no such file.
    write_synthetic_marker(
        out_dir,
        {
            "generator": "training.data.synth",
            "clips": len(plan.clips),
            "seed": seed,
            "seconds": seconds,
            "label_drop": cfg.label_drop,
        },
    )
    y, z = plan.label_matrix(), plan.label_matrix(latent=True)
    return SynthSummary(
        out_dir=out_dir,
        n_clips=len(plan.clips),
        n_songs=plan.n_songs,
        seconds_per_clip=seconds,
        tag_counts={t: int(v) for t, v in zip(TOP10_TAGS, y.sum(0), strict=True)},
        latent_tag_counts={t: int(v) for t, v in zip(TOP10_TAGS, z.sum(0), strict=True)},
        n_untagged=int((y.sum(1) == 0).sum()),
        folder_counts=dict(sorted(Counter(c.mp3_path[0] for c in plan.clips).items())),
        seconds_taken=time.perf_counter() - t_start,
        workers=workers,
    )
