"""Standardizing features and the deterministic clip subsample."""

from __future__ import annotations

import numpy as np

from training.study.projections import standardize
from training.study.sources import select_clips


def test_standardize_and_subsample() -> None:
    z = standardize(np.array([[1.0, np.nan], [3.0, 2.0], [5.0, 4.0]]))
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    a = select_clips(100, 10, seed=3)
    assert len(a) == 10 and np.all(np.diff(a) > 0)
    assert np.array_equal(a, select_clips(100, 10, seed=3))
    assert np.array_equal(select_clips(5, None, 0), np.arange(5))
