"""Decision rules: a card's calibrated thresholds, a fixed threshold, or none with a reason."""

from __future__ import annotations

import numpy as np
import pytest

from tagging.card import Calibration, ModelCard
from tagging.clips import ClipRule
from tagging.decisions import InvalidDecisionError, rule_for
from tests.paths import REPO

TAGS = ["guitar", "classical", "techno"]


def card(calibration: dict | None = None) -> ModelCard:
    return ModelCard(
        name="m",
        tags=TAGS,
        sample_rate=16000,
        chunk_samples=100,
        clip_rule=ClipRule.evenly_spaced(100, 16),
        calibration=None if calibration is None else Calibration.model_validate(calibration),
    )


CALIBRATED = {
    "thresholds": {
        "f1": {"guitar": 0.3, "classical": 0.2, "techno": 0.5},
        "precision": {"guitar": 0.6, "classical": None, "techno": 0.7},
    },
    "policy_default": "f1",
    "provenance": {"data": "real MTAT test split"},
}


def test_f1_policy_decides_by_each_tags_own_threshold() -> None:
    rule = rule_for(card(CALIBRATED))
    probs = np.array([0.31, 0.19, 0.9])
    assert rule.policy == "f1"
    assert rule.present(probs).tolist() == [True, False, True]
    assert rule.labels(TAGS, [0, 1, 2], probs) == ["techno", "guitar"]  # most probable first
    assert rule.labels(TAGS, [0, 1], probs) == ["guitar"]  # only among the ranked columns
    assert rule.source == "real MTAT test split"


def test_precision_policy_never_decides_a_tag_without_a_threshold() -> None:
    rule = rule_for(card(CALIBRATED), "precision")
    probs = np.array([0.5, 0.99, 0.7])
    assert rule.present(probs).tolist() == [False, False, True]
    assert rule.threshold_of(1) is None and rule.threshold_of(2) == 0.7


def test_a_given_threshold_overrides_the_policy_and_needs_no_calibration() -> None:
    rule = rule_for(card(None), "precision", threshold=0.4)
    assert rule.policy == "fixed"
    assert rule.present(np.array([0.4, 0.39, 1.0])).tolist() == [True, False, True]


def test_uncalibrated_model_decides_nothing_and_says_why() -> None:
    rule = rule_for(card(None))
    assert rule.thresholds is None and rule.present(np.ones(3)) is None
    assert "no calibrated thresholds" in rule.reason
    none = rule_for(card(CALIBRATED), "none")
    assert none.thresholds is None and "none" in none.reason


@pytest.mark.parametrize(("policy", "threshold"), [("bogus", None), (None, 1.5), (None, -0.1)])
def test_bad_policy_or_threshold_is_refused(policy: str | None, threshold: float | None) -> None:
    with pytest.raises(InvalidDecisionError):
        rule_for(card(CALIBRATED), policy, threshold)


def test_calibration_must_name_the_cards_tags() -> None:
    bad = {**CALIBRATED, "thresholds": {"f1": {"violin": 0.2}}}
    with pytest.raises(ValueError, match="violin"):
        card(bad)


def test_the_default_model_decides_classical_and_strings_on_its_own_scale() -> None:
    won = ModelCard.read(REPO / "models" / "won_musicnn" / "card.json")
    assert won.calibration is not None
    assert won.calibration.provenance["n_clips"] == 4332
    rule = rule_for(won)
    probs = np.zeros(len(won.tags))
    probs[won.tags.index("classical")] = 0.723  # the Brahms string orchestra's answer
    assert "classical" in rule.labels(won.tags, range(len(won.tags)), probs)
