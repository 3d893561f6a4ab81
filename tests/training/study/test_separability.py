"""Mann-Whitney AUC and effect, and separability tests finding a planted descriptor."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from training.study.separability import mann_whitney, separability_tests


def test_mann_whitney_auc_and_effect() -> None:
    r = mann_whitney(np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0, np.nan]))
    assert r["auc"] == 0.0 and r["auc_free"] == 1.0 and r["effect"] == -1.0
    assert r["n_b"] == 3
    rng = np.random.default_rng(0)
    a, b = rng.normal(1, 1, 50), rng.normal(0, 1, 60)
    r = mann_whitney(a, b)
    ref = mannwhitneyu(a, b, alternative="two-sided")
    assert r["auc"] == pytest.approx(ref.statistic / (50 * 60))
    assert r["p"] == pytest.approx(ref.pvalue)
    assert r["effect"] == pytest.approx(2 * r["auc"] - 1)


def test_separability_tests_find_planted_descriptor() -> None:
    rng = np.random.default_rng(0)
    n = 120
    y = np.zeros((n, 2), dtype=int)
    y[:50, 0] = 1  # slow
    y[60:110, 1] = 1  # fast
    x = rng.normal(size=(n, 3))
    x[:, 1] += 3 * y[:, 1]  # descriptor 1 separates fast from slow
    x[60:110, [0, 2]] = x[:50, [0, 2]][::-1]  # 0 and 2: the same values in both groups
    rows = separability_tests(x, y, ["slow", "fast"], ["d0", "d1", "d2"], pairs=[("slow", "fast")])
    by = {r["descriptor"]: r for r in rows}
    assert by["d1"]["auc_free"] > 0.95 and by["d1"]["p_holm"] < 1e-6
    assert by["d1"]["auc"] < 0.05  # slow (A) is below fast (B)
    assert by["d0"]["auc"] == pytest.approx(0.5) and by["d0"]["p_holm"] == pytest.approx(1.0)
    assert by["d2"]["p_holm"] == pytest.approx(1.0)
    assert all(r["p_holm"] >= r["p"] for r in rows)
