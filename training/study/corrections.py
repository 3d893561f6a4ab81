"""Multiple-comparison corrections: Benjamini-Hochberg (1995) and Holm (1979) adjusted p-values."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _adjust_finite(p: Sequence[float] | np.ndarray, adjust_sorted) -> np.ndarray:
    """Apply ``adjust_sorted`` (ascending finite p-values -> adjusted values) to the finite
    entries of a flat array, capped at 1, in the original order; NaNs stay NaN."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    v = p[ok]
    if len(v) == 0:
        return out
    order = np.argsort(v)
    q = np.empty(len(v))
    q[order] = np.minimum(adjust_sorted(v[order]), 1.0)
    out[ok] = q
    return out


def benjamini_hochberg(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) of a flat array; NaNs stay NaN."""

    def bh(v: np.ndarray) -> np.ndarray:
        m = len(v)
        ranked = v * m / np.arange(1, m + 1)
        return np.minimum.accumulate(ranked[::-1])[::-1]  # monotone from the largest p down

    return _adjust_finite(p, bh)


def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values of a flat array; NaNs stay NaN."""
    return _adjust_finite(p, lambda v: np.maximum.accumulate(v * (len(v) - np.arange(len(v)))))
