"""Card evaluations: entries measured here come from evaluate(); source entries keep the source."""

from __future__ import annotations

import numpy as np

from tagging.constants import TOP10_TAGS
from tagging.evaluations import card_evaluations, from_source
from tests.app.support import TAGS50, evaluation_block
from training.evaluate import evaluate
from training.measure import measured


def predictions(n: int = 60, k: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = (rng.random((n, k)) < 0.2).astype(np.int64)
    y_true[0], y_true[1] = 1, 0  # every tag has positives and negatives
    y_prob = np.clip(0.3 * y_true + 0.7 * rng.random((n, k)), 0, 1)
    return y_true, y_prob


def test_measured_entry_is_evaluate_over_all_tags_and_the_ten() -> None:
    y_true, y_prob = predictions()
    entry = measured("mtat_test", "some clips", y_true, y_prob, TAGS50, split="test")
    full = evaluate(y_true, y_prob, TAGS50)
    ten = evaluate(y_true[:, :10], y_prob[:, :10], list(TOP10_TAGS))
    assert entry["measured_by"] == "project" and entry["split"] == "test"
    assert entry["results"] == full and entry["n_clips"] == 60
    assert entry["macro"]["roc_auc"] == full["macro"]["roc_auc"]
    assert entry["macro_project_tags"]["pr_auc"] == ten["macro"]["pr_auc"]
    assert entry["macro_project_tags"] != entry["macro"]
    assert entry["per_tag"][TAGS50[-1]]["roc_auc"] == full["per_tag"][TAGS50[-1]]["roc_auc"]


def test_source_entry_keeps_what_the_source_gives() -> None:
    entry = from_source(
        "mtat_test_report",
        "MTAT test split",
        source="a report",
        citation="Someone 2020",
        macro={"roc_auc": 0.9},
        per_tag={"guitar": {"roc_auc": 0.85}},
    )
    assert entry["measured_by"] == "source" and entry["citation"] == "Someone 2020"
    assert entry["per_tag"] == {"guitar": {"roc_auc": 0.85, "pr_auc": None}}
    assert entry["macro"] == {"roc_auc": 0.9, "pr_auc": None} and "results" not in entry


def test_legacy_cards_get_one_entry_and_listed_ones_win() -> None:
    block = evaluation_block(list(TOP10_TAGS), 0.8)
    (entry,) = card_evaluations({"trained_on": "synthetic", "evaluation": block})
    assert entry["id"] == "synthetic_test" and entry["measured_by"] == "project"
    assert entry["macro"]["roc_auc"] == 0.8 and "synthetic MTAT test split" in entry["data"]
    assert card_evaluations({"evaluation": block, "evaluations": []}) == []
    assert card_evaluations({"evaluation": None}) == []
