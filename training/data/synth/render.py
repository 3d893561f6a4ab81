"""One clip's audio from its song's latent tags: style, parts and drums, then the master chain."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tagging.constants import SAMPLE_RATE, TOP10_TAGS
from training.data.synth.frame import ClipFrame
from training.data.synth.instruments import Instruments
from training.data.synth.mixing import master
from training.data.synth.parts import drum_track, render_parts
from training.data.synth.style import make_style


def render_clip(
    latent: Sequence[str],
    seed: int,
    song: int,
    segment: int,
    seconds: float = 29.1,
    sr: int = SAMPLE_RATE,
) -> np.ndarray:
    """Audio (float32, ``seconds * sr`` samples) of one segment of a song with latent tags."""
    unknown = set(latent) - set(TOP10_TAGS)
    if unknown:
        raise ValueError(f"unknown tags {sorted(unknown)}; known: {TOP10_TAGS}")
    style = make_style(latent, seed, song)
    frame = ClipFrame.create(style, seed, song, segment, seconds, sr)
    mix = render_parts(frame, Instruments(frame))
    if style.drums is not None:
        mix += 0.9 * drum_track(frame)
    return master(frame, mix)
