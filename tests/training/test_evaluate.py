"""evaluate(): agreement with scikit-learn, undefined tags, baseline row, threshold tuning."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from training.evaluate import evaluate, format_table, predict_clips, tune_thresholds

TAGS = ["a", "b", "c", "d"]


@pytest.fixture
def arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y_true = (rng.random((200, 4)) < [0.3, 0.1, 0.5, 0.05]).astype(np.float32)
    # informative but noisy scores
    y_prob = np.clip(0.35 * y_true + rng.random((200, 4)) * 0.7, 0, 1).astype(np.float32)
    return y_true, y_prob


def test_matches_sklearn(arrays: tuple[np.ndarray, np.ndarray]) -> None:
    y_true, y_prob = arrays
    res = evaluate(y_true, y_prob, TAGS)
    pred = (y_prob >= 0.5).astype(int)
    for j, tag in enumerate(TAGS):
        m = res["per_tag"][tag]
        assert m["positives"] == int(y_true[:, j].sum())
        assert m["roc_auc"] == pytest.approx(roc_auc_score(y_true[:, j], y_prob[:, j]))
        assert m["pr_auc"] == pytest.approx(average_precision_score(y_true[:, j], y_prob[:, j]))
        assert m["precision"] == pytest.approx(
            precision_score(y_true[:, j], pred[:, j], zero_division=0)
        )
        assert m["recall"] == pytest.approx(recall_score(y_true[:, j], pred[:, j]))
        assert m["f1"] == pytest.approx(f1_score(y_true[:, j], pred[:, j]))
        assert m["accuracy"] == pytest.approx(accuracy_score(y_true[:, j], pred[:, j]))
        assert m["threshold"] == 0.5 and m["f1_tuned"] == m["f1"]
    assert res["macro"]["roc_auc"] == pytest.approx(roc_auc_score(y_true, y_prob, average="macro"))
    assert res["macro"]["pr_auc"] == pytest.approx(
        average_precision_score(y_true, y_prob, average="macro")
    )
    assert res["macro"]["f1"] == pytest.approx(
        f1_score(y_true, pred, average="macro", zero_division=0)
    )
    micro = res["micro"]
    assert micro["roc_auc"] == pytest.approx(roc_auc_score(y_true, y_prob, average="micro"))
    assert micro["pr_auc"] == pytest.approx(
        average_precision_score(y_true, y_prob, average="micro")
    )
    assert micro["precision"] == pytest.approx(precision_score(y_true, pred, average="micro"))
    assert micro["recall"] == pytest.approx(recall_score(y_true, pred, average="micro"))
    assert micro["f1"] == pytest.approx(f1_score(y_true, pred, average="micro"))
    assert micro["accuracy"] == pytest.approx(float(np.mean(pred == y_true)))
    assert res["n_clips"] == 200 and res["tags"] == TAGS
    json.dumps(res)  # JSON-ready


def test_undefined_tag_is_none_and_macro_skips_it(arrays: tuple[np.ndarray, np.ndarray]) -> None:
    y_true, y_prob = arrays
    y_true = y_true.copy()
    y_true[:, 1] = 0  # tag "b" has no positives in this split
    res = evaluate(y_true, y_prob, TAGS)
    b = res["per_tag"]["b"]
    assert b["positives"] == 0
    assert b["roc_auc"] is None and b["pr_auc"] is None
    assert b["recall"] is None and b["f1"] is None and b["f1_tuned"] is None
    assert b["accuracy"] == pytest.approx(float(np.mean(y_prob[:, 1] < 0.5)))
    defined = [j for j in range(4) if j != 1]
    assert res["macro"]["roc_auc"] == pytest.approx(
        np.mean([roc_auc_score(y_true[:, j], y_prob[:, j]) for j in defined])
    )
    assert res["macro"]["tags_defined"] == 3
    # all positives: ROC-AUC undefined, PR-AUC defined
    y_true[:, 2] = 1
    c = evaluate(y_true, y_prob, TAGS)["per_tag"]["c"]
    assert c["roc_auc"] is None and c["pr_auc"] == pytest.approx(1.0)
    table = format_table(evaluate(y_true, y_prob, TAGS))
    assert "—" in table and "all-negative baseline" in table


def test_baseline_row_shows_accuracy_misleads() -> None:
    y_true = np.zeros((100, 2), dtype=np.float32)
    y_true[:10, 0] = 1
    y_true[:5, 1] = 1
    res = evaluate(y_true, np.full((100, 2), 0.1), ["x", "y"])
    base = res["baseline_all_negative"]
    assert base["accuracy"] == pytest.approx(1 - 15 / 200)
    assert base["recall"] == 0 and base["f1"] == 0 and base["precision"] == 0
    # a model that never predicts a tag has exactly the baseline's accuracy
    assert res["micro"]["accuracy"] == pytest.approx(base["accuracy"])


def test_tune_thresholds_maximises_f1() -> None:
    rng = np.random.default_rng(1)
    y_true = (rng.random((300, 3)) < 0.2).astype(np.float32)
    # positives score around 0.3, negatives around 0.1: the 0.5 cut finds nothing
    y_prob = 0.1 + 0.2 * y_true + 0.08 * rng.standard_normal((300, 3))
    y_prob[:, 2] = rng.random(300)
    y_true[:, 2] = 0  # no positives -> keeps 0.5
    thr = tune_thresholds(y_true, y_prob)
    assert thr.shape == (3,) and thr[2] == 0.5
    for j in range(2):
        best = f1_score(y_true[:, j], y_prob[:, j] >= thr[j])
        for cand in np.linspace(0.0, 1.0, 101):
            assert f1_score(y_true[:, j], y_prob[:, j] >= cand, zero_division=0) <= best + 1e-12
    res = evaluate(y_true, y_prob, ["a", "b", "c"], thresholds=thr)
    assert res["per_tag"]["a"]["f1_tuned"] > res["per_tag"]["a"]["f1"]
    assert res["per_tag"]["a"]["threshold"] == pytest.approx(thr[0])


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="n_clips, n_tags"):
        evaluate(np.zeros((3, 2)), np.zeros((3, 3)), ["a", "b"])
    with pytest.raises(ValueError, match="tag names"):
        evaluate(np.zeros((3, 2)), np.zeros((3, 2)), ["a"])
    with pytest.raises(ValueError, match="thresholds"):
        evaluate(np.zeros((3, 2)), np.zeros((3, 2)), ["a", "b"], thresholds=[0.5])


def test_predict_clips_means_sigmoid_over_chunks() -> None:
    torch = pytest.importorskip("torch")

    class MeanModel(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L) -> (B, 2)
            return torch.stack([x.mean(dim=1), -x.mean(dim=1)], dim=1)

    rng = np.random.default_rng(0)
    # clip 2 has a single chunk (a short clip): chunk counts may differ across clips
    items = [
        (rng.standard_normal((4, 8)).astype(np.float32), np.array([1, 0], dtype=np.float32)),
        (rng.standard_normal((4, 8)).astype(np.float32), np.array([0, 1], dtype=np.float32)),
        (rng.standard_normal((1, 8)).astype(np.float32), np.array([1, 1], dtype=np.float32)),
    ]
    stats: dict[str, float] = {}
    y_true, y_prob = predict_clips(MeanModel(), items, "cpu", batch_size=2, stats=stats)
    assert y_true.shape == y_prob.shape == (3, 2)
    for i, (chunks, labels) in enumerate(items):
        m = chunks.mean(axis=1)
        expected = np.stack([1 / (1 + np.exp(-m)), 1 / (1 + np.exp(m))], axis=1).mean(axis=0)
        np.testing.assert_allclose(y_prob[i], expected, rtol=1e-5)
        np.testing.assert_array_equal(y_true[i], labels)
    assert stats["clips"] == 3 and stats["chunks"] == 9 and stats["clips_per_s"] > 0
