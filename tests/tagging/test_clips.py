"""One clip rule per card (tagging.clips.ClipRule): for every model in models/, the chunks it cuts
are those of the reference behaviour the service and training used before the rule was unified.

References, written out independently of ClipRule:
* Won et al. 2020 ``eval.py`` (won_*): 16 chunks at ``i * ((n - L) // 16)``, short clips tiled;
* musicnn (pons_*): librosa's centre padding (256 zeros at both ends), whole 48128-sample
  chunks every 187 frames of 256 samples, short clips tiled to the shortest usable length;
* the project's models (every other card): ``tagging.audio.chunk_starts(n, L, 16)`` cut by
  ``take_chunks`` (zero-padded at the end when the clip is shorter than one chunk), as the
  service's evenly spaced path and training's ChunkedClipDataset did.
"""

from __future__ import annotations

import numpy as np
import pytest

from tagging.audio import chunk_starts, take_chunks
from tagging.card import ModelCard
from tagging.clips import ClipRule
from tests.paths import REPO

MODELS = sorted(p.parent.name for p in (REPO / "models").glob("*/card.json"))
MUSICNN_PAD, MUSICNN_HOP = 256, 187 * 256


def won(x: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.resize(x, max(len(x), length))  # np.resize repeats x: tiling
    hop = (len(x) - length) // 16
    starts = np.arange(16) * hop
    return starts, np.stack([x[s : s + length] for s in starts])


def musicnn(x: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.resize(x, max(len(x), length - 2 * MUSICNN_PAD))
    padded = np.concatenate([np.zeros(MUSICNN_PAD), x, np.zeros(MUSICNN_PAD)])
    starts = np.arange(0, len(padded) - length + 1, MUSICNN_HOP)
    return starts, np.stack([padded[s : s + length] for s in starts])


def evenly_spaced(x: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    starts = chunk_starts(len(x), length, 16)
    return starts, take_chunks(x, starts, length)


REFERENCE = {"won_": won, "pons_": musicnn}


def reference(name: str):
    return next((f for prefix, f in REFERENCE.items() if name.startswith(prefix)), evenly_spaced)


@pytest.mark.parametrize("name", MODELS)
def test_every_cards_rule_cuts_the_reference_chunks(name: str) -> None:
    card = ModelCard.read(REPO / "models" / name / "card.json")
    rule, length = card.clip_rule, card.chunk_samples
    rng = np.random.default_rng(0)
    for n in (1, 16_000, length - 1, length, length + 1, 465_600, 480_000, 3 * length + 7):
        x = rng.standard_normal(n).astype(np.float32)
        starts, chunks = reference(name)(x, length)
        np.testing.assert_array_equal(rule.starts(n), starts, err_msg=f"{name}, {n} samples")
        np.testing.assert_array_equal(rule.chunks(x), chunks, err_msg=f"{name}, {n} samples")


def test_the_project_models_rule_is_sixteen_evenly_spaced_chunks() -> None:
    for name in MODELS:
        if reference(name) is evenly_spaced:
            rule = ModelCard.read(REPO / "models" / name / "card.json").clip_rule
            assert rule == ClipRule.evenly_spaced(rule.chunk_samples, 16)


def test_short_clips_are_zero_padded_or_tiled() -> None:
    x = np.arange(1, 4, dtype=np.float32)
    even = ClipRule.evenly_spaced(8, 16)
    np.testing.assert_array_equal(even.chunks(x), [[1, 2, 3, 0, 0, 0, 0, 0]])
    tiled = ClipRule(8, n_chunks=16)
    np.testing.assert_array_equal(tiled.chunks(x), np.tile([1, 2, 3, 1, 2, 3, 1, 2], (16, 1)))
    assert len(even.starts(8)) == 1 and len(even.starts(9)) == 16  # one chunk if n <= L


def test_evenly_spaced_is_chunk_starts() -> None:
    rule = ClipRule.evenly_spaced(1000, 5)
    for n in (1, 999, 1000, 1001, 4321, 10_000):
        np.testing.assert_array_equal(rule.starts(n), chunk_starts(n, 1000, 5))


def test_rule_refuses_impossible_settings() -> None:
    for kwargs in (
        {},
        {"hop_samples": 4, "n_chunks": 2},
        {"n_chunks": 0},
        {"hop_samples": -1},
        {"n_chunks": 2, "spacing": "even", "lead_pad": 1},
        {"n_chunks": 2, "short_clips": "silence"},
    ):
        with pytest.raises(ValueError):
            ClipRule(8, **kwargs)


def test_rule_needs_a_mono_signal() -> None:
    with pytest.raises(ValueError, match="mono"):
        ClipRule.evenly_spaced(8, 2).chunks(np.zeros((2, 8), np.float32))
