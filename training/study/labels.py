"""Label statistics: tag counts, cardinality, co-occurrence, P(B|A), lift, PMI and Fisher tests per pair."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.study.corrections import benjamini_hochberg


@dataclass
class LabelStats:
    """Every label statistic of the report; matrices are ``(K, K)`` indexed ``[A, B]``.

    Probabilities use ``n_total`` clips as the population (clips absent from a label table
    carry none of its tags). ``cond[a, b] = P(B | A)``; ``lift = P(A,B) / (P(A) P(B))``;
    ``pmi = log2(lift)`` in bits (``-inf`` for pairs that never co-occur); ``p_values`` from
    Fisher's exact test (two-sided) on each pair's 2x2 table; ``q_values`` BH-adjusted over the
    K(K-1)/2 pairs. Diagonals of the pair matrices are NaN except ``cooc`` (= tag counts).
    """

    tags: tuple[str, ...]
    n_rows: int
    n_total: int
    counts: np.ndarray
    cooc: np.ndarray
    cond: np.ndarray
    expected: np.ndarray
    lift: np.ndarray
    pmi: np.ndarray
    odds_ratio: np.ndarray
    p_values: np.ndarray
    q_values: np.ndarray
    cardinality: dict[int, int]
    pairs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mean_cardinality(self) -> float:
        return sum(k * v for k, v in self.cardinality.items()) / max(self.n_total, 1)

    @property
    def share_none(self) -> float:
        return self.cardinality.get(0, 0) / max(self.n_total, 1)


def label_statistics(
    y: np.ndarray, tags: Sequence[str], n_total: int | None = None, alpha: float = 0.05
) -> LabelStats:
    """Label statistics of a 0/1 matrix ``y (N, K)``; ``n_total >= N`` counts unlisted clips.

    Raises ``ValueError`` on a non-binary matrix, a tag-count mismatch or ``n_total < N``.
    """
    from scipy.stats import fisher_exact

    y = np.asarray(y)
    if y.ndim != 2 or y.shape[1] != len(tags):
        raise ValueError(f"label matrix shape {y.shape} does not match {len(tags)} tags")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("label matrix must hold only 0 and 1")
    y = y.astype(np.int64)
    n_rows, k = y.shape
    n_total = n_rows if n_total is None else int(n_total)
    if n_total < n_rows:
        raise ValueError(f"n_total={n_total} is smaller than the {n_rows} labelled rows")
    if n_total == 0:
        raise ValueError("no clips to analyze")
    counts = y.sum(axis=0)  # (K,)
    cooc = y.T @ y  # (K, K)
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = cooc / counts[:, None]  # P(B|A) = n_AB / n_A, row A
        expected = np.outer(counts, counts) / n_total  # n_A n_B / N
        lift = cooc / expected
        pmi = np.log2(lift)
    odds = np.full((k, k), np.nan)
    pv = np.full((k, k), np.nan)
    pairs: list[dict[str, Any]] = []
    for a in range(k):
        for b in range(a + 1, k):
            n11 = int(cooc[a, b])
            n10 = int(counts[a]) - n11
            n01 = int(counts[b]) - n11
            n00 = n_total - n11 - n10 - n01
            res = fisher_exact([[n11, n10], [n01, n00]], alternative="two-sided")
            odds[a, b] = odds[b, a] = float(res.statistic)
            pv[a, b] = pv[b, a] = float(res.pvalue)
    iu = np.triu_indices(k, 1)
    q_flat = benjamini_hochberg(pv[iu])
    qv = np.full((k, k), np.nan)
    qv[iu] = q_flat
    qv[(iu[1], iu[0])] = q_flat
    for a, b in zip(*iu, strict=True):
        pairs.append(
            {
                "a": tags[a],
                "b": tags[b],
                "n_a": int(counts[a]),
                "n_b": int(counts[b]),
                "n_ab": int(cooc[a, b]),
                "expected": float(expected[a, b]),
                "p_b_given_a": float(cond[a, b]),
                "p_a_given_b": float(cond[b, a]),
                "lift": float(lift[a, b]),
                "pmi": float(pmi[a, b]),
                "odds_ratio": float(odds[a, b]),
                "p": float(pv[a, b]),
                "q": float(qv[a, b]),
                "significant": bool(qv[a, b] < alpha),
            }
        )
    for mat in (lift, pmi, expected):
        np.fill_diagonal(mat, np.nan)
    cond_off = cond.copy()
    np.fill_diagonal(cond_off, np.nan)
    per_clip = y.sum(axis=1)
    card = {int(c): int(n) for c, n in zip(*np.unique(per_clip, return_counts=True), strict=True)}
    card[0] = card.get(0, 0) + (n_total - n_rows)
    card = dict(sorted(card.items()))
    return LabelStats(
        tags=tuple(tags),
        n_rows=n_rows,
        n_total=n_total,
        counts=counts,
        cooc=cooc,
        cond=cond_off,
        expected=expected,
        lift=lift,
        pmi=pmi,
        odds_ratio=odds,
        p_values=pv,
        q_values=qv,
        cardinality=card,
        pairs=pairs,
    )
