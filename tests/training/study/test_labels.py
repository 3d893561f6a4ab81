"""Label statistics: exact counts, population, Fisher tests, the real MTAT label table."""

from __future__ import annotations

import numpy as np
import pytest

from training.constants import data_file
from training.study.config import MTAT_TOTAL_CLIPS, REAL_LABELS_TABLE
from training.study.labels import label_statistics
from training.study.sources import read_labels_table


def _known_matrix() -> np.ndarray:
    # tags a, b, c over 8 clips: n_a = 4, n_b = 4, n_ab = 2; c (2 clips) only inside a; b, c never.
    return np.array(
        [
            [1, 1, 0],
            [1, 1, 0],
            [1, 0, 1],
            [1, 0, 1],
            [0, 1, 0],
            [0, 1, 0],
            [0, 0, 0],
            [0, 0, 0],
        ]
    )


def test_label_statistics_exact_values() -> None:
    st = label_statistics(_known_matrix(), ["a", "b", "c"])
    assert st.counts.tolist() == [4, 4, 2]
    assert st.cooc.tolist() == [[4, 2, 2], [2, 4, 0], [2, 0, 2]]
    # P(B|A) row-wise: P(b|a) = 2/4, P(c|a) = 2/4, P(a|c) = 2/2, P(c|b) = 0.
    assert st.cond[0, 1] == pytest.approx(0.5)
    assert st.cond[0, 2] == pytest.approx(0.5)
    assert st.cond[2, 0] == pytest.approx(1.0)
    assert st.cond[1, 2] == 0.0
    assert np.isnan(st.cond[0, 0])
    # lift = n_AB N / (n_A n_B): ab = 2*8/16 = 1, ac = 2*8/8 = 2, bc = 0.
    assert st.lift[0, 1] == pytest.approx(1.0)
    assert st.lift[0, 2] == pytest.approx(2.0)
    assert st.lift[1, 2] == 0.0
    assert st.pmi[0, 1] == pytest.approx(0.0)
    assert st.pmi[0, 2] == pytest.approx(1.0)
    assert np.isneginf(st.pmi[1, 2])
    assert st.expected[0, 1] == pytest.approx(2.0)
    assert st.cardinality == {0: 2, 1: 2, 2: 4}
    assert st.mean_cardinality == pytest.approx(10 / 8)
    assert st.share_none == pytest.approx(2 / 8)
    pair = next(p for p in st.pairs if (p["a"], p["b"]) == ("a", "c"))
    assert pair["n_ab"] == 2 and pair["lift"] == pytest.approx(2.0)


def test_label_statistics_population_counts_unlisted_clips() -> None:
    # Eight more clips without any tag (as in the packaged table) double N: lift doubles too.
    st = label_statistics(_known_matrix(), ["a", "b", "c"], n_total=16)
    assert st.lift[0, 1] == pytest.approx(2.0)
    assert st.pmi[0, 1] == pytest.approx(1.0)
    assert st.cardinality[0] == 10
    assert st.share_none == pytest.approx(10 / 16)
    with pytest.raises(ValueError, match="smaller"):
        label_statistics(_known_matrix(), ["a", "b", "c"], n_total=5)
    with pytest.raises(ValueError, match="0 and 1"):
        label_statistics(_known_matrix() * 2, ["a", "b", "c"])


def test_fisher_flags_planted_dependency_not_independent_pair() -> None:
    rng = np.random.default_rng(0)
    n = 600
    a = rng.random(n) < 0.3
    b = np.where(rng.random(n) < 0.8, a, rng.random(n) < 0.3)  # b copies a 80 % of the time
    # c independent of a and b by construction: 30 % of every (a, b) cell, rounded.
    c = np.zeros(n, dtype=bool)
    for cell in ((0, 0), (0, 1), (1, 0), (1, 1)):
        members = np.flatnonzero((a == cell[0]) & (b == cell[1]))
        c[members[: round(0.3 * len(members))]] = True
    d = (rng.random(n) < 0.3) & ~a  # never with a: a planted exclusion
    st = label_statistics(np.stack([a, b, c, d], 1).astype(int), ["a", "b", "c", "d"])
    q = {(p["a"], p["b"]): p for p in st.pairs}
    assert q[("a", "b")]["significant"] and q[("a", "b")]["lift"] > 1.5
    assert q[("a", "d")]["significant"] and q[("a", "d")]["n_ab"] == 0
    assert not q[("a", "c")]["significant"] and q[("a", "c")]["q"] > 0.05
    assert not q[("b", "c")]["significant"]


def test_real_label_table_reads_and_counts() -> None:
    ids, tags, y = read_labels_table(data_file(REAL_LABELS_TABLE))
    assert len(ids) == len(y) == 16_470 and len(tags) == 10
    assert y.sum(axis=1).min() == 1  # every listed clip has a top-10 tag
    st = label_statistics(y, tags, n_total=MTAT_TOTAL_CLIPS)
    assert st.cardinality[0] == MTAT_TOTAL_CLIPS - 16_470
    i, j = tags.index("classical"), tags.index("techno")
    assert st.lift[i, j] < 0.1 and st.q_values[i, j] < 1e-10
