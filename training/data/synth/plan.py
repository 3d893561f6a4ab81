"""The dataset plan: songs, names, folders, clip ids and labels of a synthetic MTAT (no audio)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tagging.constants import SAMPLE_RATE, TOP10_TAGS
from training.constants import MTAT_FOLDERS
from training.data.synth.labels import LabelModel, load_stats
from training.data.synth.names import segment_bounds, song_name

# Stream ids mixed into the seed so that labels, names and audio use independent random streams.
S_SONG, S_LABELS, S_NAME, S_STYLE, S_AUDIO, S_FOLDER = 1, 2, 3, 4, 5, 6


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the generator (defaults are what the demo and tests use)."""

    label_drop: float = 0.15
    """Probability that a latent tag is missing from one clip's written labels (weak labels)."""
    max_segments_per_song: int = 3
    """Song lengths are drawn from MTAT's (in segments) and capped here, so small sets hold many songs."""
    first_clip_id: int = 2
    """MTAT's first clip_id."""
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_drop < 1.0:
            raise ValueError(f"label_drop must be in [0, 1), got {self.label_drop}")
        if self.max_segments_per_song < 1:
            raise ValueError("max_segments_per_song must be >= 1")


@dataclass(frozen=True)
class ClipPlan:
    """One clip to write: where, which labels, and which latent tags its audio is rendered from."""

    clip_id: int
    song: int
    segment: int
    mp3_path: str
    latent: tuple[str, ...]
    labels: tuple[str, ...]


@dataclass
class DatasetPlan:
    clips: list[ClipPlan]
    n_songs: int
    seconds: float
    seed: int
    config: SynthConfig = field(default_factory=SynthConfig)

    def label_matrix(self, latent: bool = False) -> np.ndarray:
        """``(n_clips, 10)`` 0/1 float32 in ``TOP10_TAGS`` order (written or latent labels)."""
        y = np.zeros((len(self.clips), len(TOP10_TAGS)), dtype=np.float32)
        col = {t: i for i, t in enumerate(TOP10_TAGS)}
        for r, c in enumerate(self.clips):
            for t in c.latent if latent else c.labels:
                y[r, col[t]] = 1.0
        return y


# ---------------------------------------------------------------------------------- statistics


def plan_dataset(
    n_clips: int, seed: int, seconds: float = 29.1, config: SynthConfig | None = None
) -> DatasetPlan:
    """Songs, names, folders, clip_ids and labels for ``n_clips`` clips (no audio; fast).

    Every song's latent tags and length come from ``(seed, song)``, every clip's dropped labels
    from ``(seed, song, segment)``; consecutive segments of a song share its name and folder.
    """
    cfg = config or SynthConfig()
    if n_clips < 1:
        raise ValueError(f"n_clips must be >= 1, got {n_clips}")
    if not 1.0 <= seconds <= 600.0:
        raise ValueError(f"seconds must be in [1, 600], got {seconds}")
    model = LabelModel(load_stats(), cfg.label_drop)
    clips: list[ClipPlan] = []
    names: set[str] = set()
    song = 0
    while len(clips) < n_clips:
        rng = np.random.default_rng([seed, song, S_SONG])
        latent = model.latent(rng)
        n_seg = min(model.segments(rng, cfg.max_segments_per_song), n_clips - len(clips))
        name = song_name(np.random.default_rng([seed, song, S_NAME]))
        if name in names:  # astronomically rare, but names must be unique
            name = f"{name}_{song}"
        names.add(name)
        # Folders: a seeded permutation of the 16 folders per block of 16 songs (even spread).
        perm = np.random.default_rng([seed, song // 16, S_FOLDER]).permutation(16)
        folder = MTAT_FOLDERS[int(perm[song % 16])]
        for seg in range(n_seg):
            lrng = np.random.default_rng([seed, song, seg, S_LABELS])
            keep = lrng.random(len(latent)) >= cfg.label_drop
            labels = tuple(t for t, k in zip(latent, keep, strict=True) if k)
            start, end = segment_bounds(seg, seconds)
            clips.append(
                ClipPlan(
                    clip_id=cfg.first_clip_id + len(clips),
                    song=song,
                    segment=seg,
                    mp3_path=f"{folder}/{name}-{start}-{end}.mp3",
                    latent=latent,
                    labels=labels,
                )
            )
        song += 1
    return DatasetPlan(clips=clips, n_songs=song, seconds=seconds, seed=seed, config=cfg)


def sample_labels(
    n_clips: int, seed: int, config: SynthConfig | None = None, latent: bool = False
) -> np.ndarray:
    """The ``(n_clips, 10)`` labels :func:`synthesize` would write (``TOP10_TAGS`` order), no audio."""
    return plan_dataset(n_clips, seed, config=config).label_matrix(latent=latent)
