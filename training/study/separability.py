"""Do single descriptors separate tags? Mann-Whitney U, AUC and rank-biserial effect, Holm-corrected."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from training.study.corrections import holm


def mann_whitney(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Two-sided Mann-Whitney U of ``a`` vs ``b`` (NaNs dropped).

    ``auc = U_a / (n_a n_b)`` = P(a > b) + P(a = b) / 2; ``auc_free = max(auc, 1 - auc)``;
    ``effect`` = rank-biserial correlation = 2 auc - 1 (equals Cliff's delta).
    """
    from scipy.stats import mannwhitneyu

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a[np.isfinite(a)]
    b = b[np.isfinite(b)]
    if len(a) == 0 or len(b) == 0:
        return {
            "n_a": len(a),
            "n_b": len(b),
            "auc": math.nan,
            "auc_free": math.nan,
            "effect": math.nan,
            "p": math.nan,
            "median_a": math.nan,
            "median_b": math.nan,
        }
    if np.ptp(np.concatenate([a, b])) == 0:
        u, p = len(a) * len(b) / 2.0, 1.0
    else:
        res = mannwhitneyu(a, b, alternative="two-sided")
        u, p = float(res.statistic), float(res.pvalue)
    auc = u / (len(a) * len(b))
    return {
        "n_a": len(a),
        "n_b": len(b),
        "auc": auc,
        "auc_free": max(auc, 1.0 - auc),
        "effect": 2.0 * auc - 1.0,
        "p": p,
        "median_a": float(np.median(a)),
        "median_b": float(np.median(b)),
    }


def separability_tests(
    x: np.ndarray,
    y: np.ndarray,
    tags: Sequence[str],
    names: Sequence[str],
    pairs: Sequence[tuple[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """Mann-Whitney per descriptor for each group contrast, Holm-corrected over the family.

    With ``pairs``: group A = tag a without b, group B = tag b without a. Without: each tag,
    present (A) vs absent (B). Each row: ``pair, descriptor`` and :func:`mann_whitney`'s keys
    plus ``p_holm``. Contrasts where a group is empty are skipped.
    """
    rows: list[dict[str, Any]] = []
    idx = {t: i for i, t in enumerate(tags)}
    contrasts: list[tuple[str, np.ndarray, np.ndarray]] = []
    if pairs is None:
        for t in tags:
            pos = y[:, idx[t]] > 0
            contrasts.append((f"{t} vs not {t}", pos, ~pos))
    else:
        for a, b in pairs:
            if a not in idx or b not in idx:
                continue
            ya, yb = y[:, idx[a]] > 0, y[:, idx[b]] > 0
            contrasts.append((f"{a} vs {b}", ya & ~yb, yb & ~ya))
    for label, ma, mb in contrasts:
        if not ma.any() or not mb.any():
            continue
        for j, name in enumerate(names):
            r = mann_whitney(x[ma, j], x[mb, j])
            rows.append({"pair": label, "descriptor": name, **r})
    p_adj = holm([r["p"] for r in rows])
    for r, q in zip(rows, p_adj, strict=True):
        r["p_holm"] = float(q)
    return rows
