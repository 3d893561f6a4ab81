"""Facts every side shares: the sample rate of every model, the project's ten tags, the chunk count."""

from __future__ import annotations

SAMPLE_RATE = 16_000
"""Every model takes 16 kHz mono audio (as Won et al. 2020 and musicnn)."""

TOP10_TAGS: tuple[str, ...] = (
    "guitar",
    "classical",
    "slow",
    "techno",
    "strings",
    "drums",
    "electronic",
    "rock",
    "fast",
    "piano",
)
"""The ten most frequent MTAT tags, most frequent first (real MTAT counts in
training/data/SOURCES.md)."""

EVAL_CHUNKS = 16
"""Chunks averaged per clip at evaluation (Won et al. 2020)."""
