"""Shared by the training tests: the smallest training setup that still runs every step."""

from __future__ import annotations

TINY_OVERRIDES: dict[str, object] = {
    "chunk_samples": 16000,
    "width": 0.125,
    "batch_size": 8,
    "eval_chunks": 2,
    "num_workers": 0,
    "device": "cpu",
}
"""Overrides of the quick profile: 1-s chunks, width 0.125, CPU, no DataLoader workers."""
