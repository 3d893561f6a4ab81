"""The uploads of a benchmark run: synthetic MP3 songs with different tags, or the real MTAT clip."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from tagging.constants import TOP10_TAGS

REPO = Path(__file__).resolve().parents[2]
MTAT_CLIP = REPO / "tests" / "data" / "joram-moments_of_clarity-08-solipsism-59-88.mp3"


def make_clips(n: int, source: str, seconds: float = 29.1, seed: int = 0) -> list[bytes]:
    """``n`` MP3 uploads: synthetic songs with different tags, or copies of the MTAT clip."""
    if source == "mtat":
        return [MTAT_CLIP.read_bytes()] * n
    from tagging.audio import encode_mp3
    from training.data.synth import render_clip

    rng = np.random.default_rng(seed)
    clips = []
    for i in range(n):
        latent = list(rng.choice(TOP10_TAGS, size=2, replace=False))
        buf = io.BytesIO()
        encode_mp3(render_clip(latent, seed, song=i, segment=0, seconds=seconds), buf)
        clips.append(buf.getvalue())
    return clips
