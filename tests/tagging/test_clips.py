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
from tagging.clips import CLIP_SAMPLES, ClipRule
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


@pytest.mark.parametrize("name", MODELS)
def test_cover_keeps_the_rules_chunks_within_its_span(name: str) -> None:
    """Clips up to the rule's span or 30 s (the MTAT clip, short recordings) keep exactly the
    originals' chunks whatever the cap; hop rules keep them for any length."""
    rule = ModelCard.read(REPO / "models" / name / "card.json").clip_rule
    span = rule.span_samples
    rng = np.random.default_rng(1)
    lengths = [1, 16_000, rule.chunk_samples, 465_600, CLIP_SAMPLES] + (
        [span] if span else [4 * 60 * 16_000]
    )
    for n in lengths:
        x = rng.standard_normal(n).astype(np.float32)
        for cap in (None, 1, 64, 10_000):
            np.testing.assert_array_equal(rule.cover(n, cap), rule.starts(n), err_msg=f"{n}")
            np.testing.assert_array_equal(rule.chunks(x, cap), rule.chunks(x), err_msg=f"{n}")


def test_cover_spreads_chunks_over_a_long_recording() -> None:
    """4 minutes through Won's 16 chunks of 3 s: uncapped, 80 chunks from the first sample to the
    last hear it all; capped at 64, chunks do not overlap and hear 64 x 3 s; never fewer than
    the rule's 16."""
    length = 48_000
    rule = ClipRule(length, n_chunks=16)
    n = 4 * 60 * 16_000
    assert len(rule.starts(n)) == 16 and rule.heard_samples(n, rule.starts(n)) == 16 * length
    whole = rule.cover(n, 1_000)
    assert len(whole) == 80 and whole[0] == 0 and whole[-1] == n - length
    assert np.diff(whole).max() <= length  # no gap
    assert rule.heard_samples(n, whole) == n
    capped = rule.cover(n, 64)
    assert len(capped) == 64 and capped[0] == 0 and capped[-1] == n - length
    assert np.diff(capped).min() >= length  # no overlap
    assert rule.heard_samples(n, capped) == min(n, 64 * length)
    assert len(rule.cover(n, 4)) == 16  # a cap below the rule's count keeps its count
    x = np.random.default_rng(2).standard_normal(n).astype(np.float32)
    np.testing.assert_array_equal(rule.chunks(x, 64), take_chunks(x, capped, length))


def test_heard_samples_counts_the_clip_not_padding_or_repeats() -> None:
    """A tiled 1-s clip is heard once (1 s); musicnn's padding and dropped tail are not heard;
    overlaps count once."""
    won_rule = ClipRule(48_000, n_chunks=16)
    assert won_rule.heard_samples(16_000, won_rule.starts(16_000)) == 16_000
    musicnn_rule = ClipRule(
        MUSICNN_HOP + MUSICNN_PAD,
        hop_samples=MUSICNN_HOP,
        lead_pad=MUSICNN_PAD,
        tail_pad=MUSICNN_PAD,
    )
    n = 10 * MUSICNN_HOP + 1_000  # 10 whole chunks; the last 1,000 samples make no chunk
    assert musicnn_rule.heard_samples(n, musicnn_rule.starts(n)) == n - 1_000
    even = ClipRule.evenly_spaced(32_000, 16)
    assert even.heard_samples(465_600, even.starts(465_600)) == 465_600
    assert even.heard_samples(10, np.array([0, 0, 5])) == 10
