"""Multiple-comparison corrections against scipy's and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from training.study.corrections import benjamini_hochberg, holm


def test_corrections_match_reference() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.5, 0.002])
    np.testing.assert_allclose(benjamini_hochberg(p), false_discovery_control(p), rtol=1e-12)
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    with_nan = holm([0.01, np.nan, 0.02])
    assert np.isnan(with_nan[1]) and with_nan[0] == pytest.approx(0.02)
