"""app.library.chunks: pooling a track's chunks, MaxSim distances (known answers and a plain
loop), the float16 column back to arrays."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from app.library.chunks import from_arrow, maxsim_distances, pool, stored


def test_pool_means_consecutive_near_equal_groups_in_time_order() -> None:
    chunks = np.stack([np.arange(10), 10 * np.arange(10)], axis=1).astype(np.float32)  # (10, 2)
    got = pool(chunks, 4)  # groups 0-1, 2-4, 5-6, 7-9
    np.testing.assert_allclose(got[:, 0], [0.5, 3.0, 5.5, 8.0])
    np.testing.assert_allclose(got[:, 1], [5.0, 30.0, 55.0, 80.0])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(pool(chunks, 10), chunks)  # few enough: unchanged
    np.testing.assert_array_equal(pool(chunks, 32), chunks)
    np.testing.assert_array_equal(pool(chunks, 1), chunks.mean(axis=0, keepdims=True))
    assert pool(chunks, 0).shape == (0, 2)
    assert pool(chunks[:0], 4).shape == (0, 2)


def test_stored_is_pooled_float16_within_its_range() -> None:
    chunks = np.array([[1.0, 2.0], [3.0, 1e6], [5.0, -1e6]], np.float32)
    got = stored(chunks, 2)  # groups 0, 1-2
    assert got.dtype == np.float16 and got.shape == (2, 2)
    np.testing.assert_array_equal(got, np.array([[1, 2], [4, 0]], np.float16))
    assert np.isfinite(stored(chunks[1:2], 4)).all()  # 1e6 clipped to 65504, not infinity


def test_maxsim_distances_known_answers() -> None:
    query = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)  # two chunks, orthogonal
    candidates = [
        np.array([[0, 1], [5, 0], [1, 1]], np.float32),  # both found (any order, any scale): 0
        np.array([[1, 1]], np.float32),  # each query chunk at 45 degrees: 1 - cos 45
        np.array([[-1, 0]], np.float32),  # cos -1 and 0: 1 - (-0.5)
        np.zeros((1, 2), np.float32),  # a silent chunk: cosine 0 with both
        np.zeros((0, 2), np.float32),  # nothing stored: the farthest
    ]
    got = maxsim_distances(query, candidates)
    assert got.dtype == np.float32 and got.shape == (5,)
    np.testing.assert_allclose(got, [0.0, 1 - np.sqrt(0.5), 1.5, 1.0, 2.0], atol=1e-6)
    silent_query_chunk = np.array([[0.0, 0.0], [2.0, 0.0]], np.float32)
    np.testing.assert_allclose(maxsim_distances(silent_query_chunk, candidates[:1]), [0.5])
    with pytest.raises(ValueError, match="no chunk"):
        maxsim_distances(query[:0], candidates)


def test_maxsim_distances_equal_a_plain_loop() -> None:
    rng = np.random.default_rng(0)
    query = rng.normal(size=(7, 12)).astype(np.float32)
    candidates = [rng.normal(size=(int(n), 12)).astype(np.float32) for n in rng.integers(1, 9, 20)]

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    want = [1 - np.mean([max(unit(q) @ unit(t) for t in c) for q in query]) for c in candidates]
    np.testing.assert_allclose(maxsim_distances(query, candidates), want, atol=1e-5)
    assert maxsim_distances(query, []).shape == (0,)


def test_from_arrow_gives_each_row_its_chunks() -> None:
    kind = pa.list_(pa.list_(pa.float16(), 3))
    rows = [np.arange(6, dtype=np.float16).reshape(2, 3), None, np.ones((1, 3), np.float16)]
    column = pa.chunked_array(
        [pa.array([r.tolist() if r is not None else None for r in rows[:2]], kind)]
        + [pa.array([rows[2].tolist()], kind)]
    )
    got = from_arrow(column)
    assert [g.shape for g in got] == [(2, 3), (0, 3), (1, 3)]
    assert all(g.dtype == np.float32 for g in got)
    np.testing.assert_array_equal(got[0], rows[0])
    np.testing.assert_array_equal(got[2], rows[2])
    assert from_arrow(pa.array([], kind)) == []
    assert len(from_arrow(column.slice(1))) == 2  # a slice keeps its own rows only
    np.testing.assert_array_equal(from_arrow(column.slice(2))[0], rows[2])
