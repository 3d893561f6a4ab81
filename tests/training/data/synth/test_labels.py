"""Synthetic MTAT labels: MTAT's label statistics, derived from the real table and sampled."""

from __future__ import annotations

import numpy as np

from tagging.constants import TOP10_TAGS
from training.data.synth import derive_stats, load_stats, sample_labels


def test_label_frequencies_follow_mtat() -> None:
    stats = load_stats()
    y = sample_labels(4000, seed=0)
    assert y.shape == (4000, 10)
    real = np.array([stats["tag_marginals"][t] for t in TOP10_TAGS])
    ratio = y.mean(0) / real
    # Written = latent minus ~15 % dropped tags, so marginals sit a little under MTAT's.
    assert np.all(ratio > 0.6) and np.all(ratio < 1.25), dict(
        zip(TOP10_TAGS, ratio.round(2), strict=True)
    )
    assert abs((y.sum(1) == 0).mean() - stats["share_untagged"]) < 0.06
    col = {t: i for i, t in enumerate(TOP10_TAGS)}
    # Co-occurrences as in MTAT: rock implies guitar far above base rate, classical with techno ~never.
    rock = y[:, col["rock"]] == 1
    assert y[rock, col["guitar"]].mean() > 2 * y[:, col["guitar"]].mean()
    assert (y[:, col["classical"]] * y[:, col["techno"]]).mean() < 0.005
    latent = sample_labels(4000, seed=0, latent=True)
    assert np.all(latent >= y)  # written labels only drop latent tags
    assert 0.08 < 1 - y.sum() / latent.sum() < 0.22


def test_derived_stats_match_committed_json() -> None:
    derived, committed = derive_stats(), load_stats()
    for key in ("tag_counts", "combinations", "share_untagged", "cooccurrence", "n_tagged_clips"):
        assert derived[key] == committed[key]
    assert committed["n_tagged_clips"] == 16470 and 0.35 < committed["share_untagged"] < 0.37
