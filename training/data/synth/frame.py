"""One clip's time grid and random streams: the song's bars inside the segment, sample counts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from training.data.synth.plan import S_AUDIO
from training.data.synth.style import Style


@dataclass
class ClipFrame:
    """Segment ``segment`` of a song: its length, grid and the random streams every part shares.

    ``rng`` is the clip's own stream (from ``(seed, song, segment)``); ``timbre`` and ``kit_rng``
    are song-level (from the style), so every segment of a song keeps its sound.
    """

    style: Style
    sr: int
    n: int
    rng: np.random.Generator
    timbre: np.random.Generator
    kit_rng: np.random.Generator
    step: float
    """A 16th note in seconds."""
    bars: list[tuple[int, int]]
    """(bar index in the song, bar start in samples relative to the clip)."""

    @classmethod
    def create(
        cls, style: Style, seed: int, song: int, segment: int, seconds: float, sr: int
    ) -> ClipFrame:
        beat = 60.0 / style.tempo
        bar = beat * style.beats_per_bar
        t0 = segment * seconds  # the segment's time inside the song: the progression continues
        first = int(math.floor(t0 / bar))
        last = int(math.ceil((t0 + seconds) / bar))
        return cls(
            style=style,
            sr=sr,
            n=int(round(seconds * sr)),
            rng=np.random.default_rng([seed, song, segment, S_AUDIO]),
            timbre=np.random.default_rng([style.seed_parts["timbre"]]),
            kit_rng=np.random.default_rng([style.seed_parts["kit"]]),
            step=beat / 4,
            bars=[(b, int(round((b * bar - t0) * sr))) for b in range(first, last + 1)],
        )

    def s(self, seconds: float) -> int:
        """Seconds to samples."""
        return int(round(seconds * self.sr))

    def jitter(self, ms: float = 6.0) -> int:
        """A human timing error in samples (normal, ``ms`` standard deviation)."""
        return int(self.rng.normal(0.0, ms / 1000 * self.sr))

    def bar_t(self, start: int, step: float) -> float:
        """Time in seconds of 16th ``step`` of the bar starting at sample ``start``."""
        return start / self.sr + step * self.step
