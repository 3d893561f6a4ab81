"""Lazy chunks (tagging.chunks.Chunks): any rows ``i:j`` equal those of the materialised chunks.

References are written out independently of ClipRule and Chunks (``np.resize`` tiles, explicit
zero pads), then cut row by row with ``x[s : s + L]``; every split ``(i, j)`` of the rows,
across the clip's piece and the segments' piece, must give exactly the reference's rows.
"""

from __future__ import annotations

import numpy as np
import pytest

from tagging.audio import hop_starts, take_chunks
from tagging.chunks import Chunks, Piece
from tagging.clips import CLIP_SAMPLES, ClipRule

L = 48


def stack(x: np.ndarray, starts: np.ndarray, length: int = L) -> np.ndarray:
    """``x[s : s + L]`` for each start, ``x`` zero-padded to ``L`` when shorter."""
    x = np.concatenate([x, np.zeros(max(length - len(x), 0), np.float32)])
    return np.stack([x[s : s + length] for s in starts]).astype(np.float32)


def won(x: np.ndarray) -> np.ndarray:
    """Won et al. 2020 ``eval.py``: 16 chunks at ``i * ((n - L) // 16)``, short clips tiled."""
    x = np.resize(x, max(len(x), L))
    return stack(x, np.arange(16) * ((len(x) - L) // 16))


def musicnn(x: np.ndarray, pad: int = 5, hop: int = 32) -> np.ndarray:
    """musicnn: ``pad`` zeros at both ends, whole chunks every ``hop``, short clips tiled."""
    x = np.resize(x, max(len(x), L - 2 * pad))
    padded = np.concatenate([np.zeros(pad, np.float32), x, np.zeros(pad, np.float32)])
    return stack(padded, np.arange(0, len(padded) - L + 1, hop))


def even_zero(x: np.ndarray) -> np.ndarray:
    """16 evenly spaced chunks end to end; a clip shorter than a chunk: one, zero-padded."""
    if len(x) <= L:
        return stack(x, [0])
    return stack(x, np.round(np.linspace(0, len(x) - L, 16)).astype(np.int64))


RULES = {
    "won_floor_tile": (ClipRule(L, n_chunks=16), won),
    "musicnn_hop_pads": (ClipRule(L, hop_samples=32, lead_pad=5, tail_pad=5), musicnn),
    "even_zero_pad": (ClipRule.evenly_spaced(L, 16), even_zero),
}


def assert_every_split(chunks: Chunks, reference: np.ndarray) -> None:
    n = len(reference)
    assert len(chunks) == n and chunks.shape == reference.shape
    for i in range(n + 1):
        for j in range(i, n + 1):
            rows = chunks.rows(i, j)
            assert rows.dtype == np.float32 and rows.flags.c_contiguous
            np.testing.assert_array_equal(rows, reference[i:j], err_msg=f"rows {i}:{j}")
    full = np.asarray(chunks)
    np.testing.assert_array_equal(full, reference)
    assert full.dtype == np.float32


@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("n", [1, 5, 30, L - 1, L, L + 1, 100, 333])
def test_rows_equal_the_reference_chunks_and_segments(name: str, n: int) -> None:
    """The clip's chunks (tiled, zero-padded, lead/tail padded by the rule) joined with segment
    chunks cut from the raw clip (zero-padded when it is shorter than one chunk)."""
    rule, reference = RULES[name]
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    seg = hop_starts(n, L, 20)
    lazy = Chunks.join(rule.cut(x), Chunks.cut(x, seg, L))
    assert len(lazy.pieces) == 2
    assert_every_split(lazy, np.concatenate([reference(x), stack(x, seg)]))
    np.testing.assert_array_equal(rule.chunks(x), reference(x))  # the array form: same rule


def test_rows_cover_a_long_recording_spread_by_cover() -> None:
    """Past 30 s, ``cover`` spreads up to ``max_chunks`` chunks over the whole recording."""
    rule = ClipRule(L, n_chunks=4)
    n = CLIP_SAMPLES + 1_001
    x = np.random.default_rng(3).standard_normal(n).astype(np.float32)
    for cap in (8, 40):
        starts = rule.cover(n, cap)
        assert len(starts) == cap and starts[-1] == n - L  # really spread, not the rule's 4
        lazy = Chunks.join(rule.cut(x, cap), Chunks.cut(x, np.array([0, n - L - 3]), L))
        assert_every_split(lazy, np.concatenate([stack(x, starts), stack(x, [0, n - L - 3])]))


def test_the_clip_is_held_not_copied() -> None:
    """A float32 clip that needs no padding is the piece's wave itself: Won et al.'s 16
    overlapping chunks hold the clip's bytes (+ 16 starts), not 16 chunks' worth."""
    length = 4_640
    x = np.random.default_rng(4).standard_normal(4_800).astype(np.float32)
    lazy = ClipRule(length, n_chunks=16).cut(x)
    assert lazy.pieces[0].wave is x
    assert lazy.held_nbytes == x.nbytes + 16 * 8
    assert len(lazy) * length * 4 > 15 * lazy.held_nbytes
    joined = Chunks.join(lazy, Chunks.cut(x, np.array([0, 160]), length))
    assert joined.held_nbytes == x.nbytes + 18 * 8  # the shared clip counted once


@pytest.mark.parametrize(
    ("name", "sizes"), [("musicnn_hop_pads", (L - 10, 333)), ("even_zero_pad", (30, 100))]
)
def test_padding_is_never_a_copy_of_the_clip(name: str, sizes: tuple[int, ...]) -> None:
    """musicnn's lead/tail zeros and a short clip's zeros up to one chunk stay two numbers: the
    piece's wave is the clip itself, and the rows still equal the reference's."""
    rule, reference = RULES[name]
    for n in sizes:  # the shortest clip the rule takes untiled, or one shorter than a chunk
        x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
        lazy = rule.cut(x)
        assert lazy.pieces[0].wave is x
        assert lazy.held_nbytes == x.nbytes + lazy.pieces[0].starts.nbytes
        assert_every_split(lazy, reference(x))


def test_take_chunks_reads_virtual_zeros_on_both_sides() -> None:
    """Rows wholly in the lead, straddling it, inside, straddling the tail and wholly in the
    tail: each equals the row of the explicitly padded signal."""
    x = np.arange(1, 11, dtype=np.float32)  # 10 samples, no zero among them
    lead, tail, length = 9, 20, 8
    padded = np.concatenate([np.zeros(lead), x, np.zeros(tail)]).astype(np.float32)
    starts = np.arange(len(padded) - length + 1)
    np.testing.assert_array_equal(
        take_chunks(x, starts, length, lead, tail), stack(padded, starts, length)
    )
    with pytest.raises(IndexError):
        take_chunks(x, np.array([len(padded) - length + 1]), length, lead, tail)
    with pytest.raises(ValueError, match="padding"):
        Chunks((Piece(x, np.zeros(1, np.int64), lead=-1),), length)


def test_rows_inside_the_wave_are_read_only_views_and_the_rest_fresh() -> None:
    """One row inside the wave, or rows end to end inside it, are views (nothing copied per
    run); rows touching the padding, overlapping rows and the whole array are fresh."""
    x = np.random.default_rng(6).standard_normal(400).astype(np.float32)
    lazy = Chunks.join(
        Chunks.cut(x, np.array([0, 10, 100, 200, 370]), L, lead=10, tail=10),  # rows 0-4
        Chunks.cut(x, np.array([0, L, 2 * L, 300]), L),  # rows 5-8: 5-7 end to end
    )
    for i, j in [(2, 3), (3, 4), (5, 6), (5, 8), (6, 8)]:
        rows = lazy.rows(i, j)
        assert np.shares_memory(rows, x) and not rows.flags.writeable, (i, j)
    for i, j in [(0, 1), (4, 5), (1, 3), (4, 6), (7, 9), (2, 2)]:  # zeros, gaps, two pieces
        rows = lazy.rows(i, j)
        assert not np.shares_memory(rows, x) and rows.flags.writeable, (i, j)
    full = np.asarray(lazy)
    assert not np.shares_memory(full, x) and full.flags.writeable
    padded = np.concatenate([np.zeros(10, np.float32), x, np.zeros(10, np.float32)])
    reference = np.concatenate(
        [stack(padded, [0, 10, 100, 200, 370]), stack(x, [0, L, 2 * L, 300])]
    )
    assert_every_split(lazy, reference)


def test_an_array_is_wrapped_without_a_copy() -> None:
    a = np.random.default_rng(5).standard_normal((7, L)).astype(np.float32)
    lazy = Chunks.of_array(a)
    assert np.shares_memory(lazy.pieces[0].wave, a) and Chunks.of(lazy) is lazy
    assert_every_split(lazy, a)
    strided = np.asfortranarray(a)  # not C-contiguous: copied once, same rows
    assert not np.shares_memory(Chunks.of(strided).pieces[0].wave, strided)
    assert_every_split(Chunks.of(strided), a)
    np.testing.assert_array_equal(np.asarray(lazy, dtype=np.float64), a.astype(np.float64))


def test_bad_chunks_are_refused() -> None:
    x = np.zeros(100, np.float32)
    with pytest.raises(IndexError):
        Chunks.cut(x, np.array([0, 53]), L)  # 53 + 48 > 100
    with pytest.raises(IndexError):
        Chunks.cut(x, np.array([-1]), L)
    with pytest.raises(ValueError, match="float32"):
        Chunks((Piece(np.zeros(100), np.zeros(1, np.int64)),), L)
    with pytest.raises(ValueError, match="different lengths"):
        Chunks.join(Chunks.cut(x, np.array([0]), L), Chunks.cut(x, np.array([0]), 8))
    with pytest.raises(ValueError, match="expected"):
        Chunks.of_array(x)
    lazy = Chunks.cut(x, np.array([0, 52]), L)
    with pytest.raises(IndexError):
        lazy.rows(1, 3)
    with pytest.raises(ValueError, match="copy"):
        np.asarray(lazy, copy=False)
    # take_chunks and a lazy piece agree on what is in range (the last start is n - L)
    np.testing.assert_array_equal(lazy.rows(1, 2), take_chunks(x, np.array([52]), L))
