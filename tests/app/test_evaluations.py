"""/models and /metrics list every evaluation of every model: data, who measured it, scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tagging.evaluations import from_source
from tests.app.support import TAGS50, write_model
from training.measure import measured


def test_models_and_metrics_list_every_evaluation(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y_true = (rng.random((40, 50)) < 0.3).astype(np.int64)
    y_true[0], y_true[1] = 1, 0
    y_prob = np.clip(0.5 * y_true + 0.6 * rng.random((40, 50)), 0, 1)
    entries = [
        measured("mtat_test", "MTAT test split", y_true, y_prob, TAGS50, split="test"),
        from_source("published", "MTAT test split", "a README", "A. Author 2019", {"roc_auc": 0.9}),
    ]
    write_model(
        tmp_path,
        "ported",
        8_000,
        None,
        tags=TAGS50,
        trained_on="mtat",
        evaluations=entries,
        source="a published checkpoint",
        licence="ISC",
        attribution="A. Author",
    )
    write_model(tmp_path, "study", 8_000, 0.7)  # an exported card: one evaluation block
    with TestClient(create_app(Settings(models_dir=tmp_path, providers="cpu"))) as c:
        models = {m["name"]: m for m in c.get("/models").json()["models"]}
        metrics = {m["name"]: m for m in c.get("/metrics").json()["models"]}
    ported = models["ported"]
    assert ported["evaluated"] and ported["licence"] == "ISC" and ported["trained_on"] == "mtat"
    assert [e["measured_by"] for e in ported["evaluations"]] == ["project", "source"]
    head = ported["evaluations"][0]
    assert head["macro"] == ported["macro"] and len(head["per_tag"]) == 50
    assert head["macro_project_tags"]["roc_auc"] == entries[0]["macro_project_tags"]["roc_auc"]
    assert ported["evaluations"][1]["citation"] == "A. Author 2019"
    assert ported["evaluations"][1]["macro"] == {"roc_auc": 0.9, "pr_auc": None}
    study = models["study"]
    assert [e["id"] for e in study["evaluations"]] == ["synthetic_test"]
    assert study["macro"]["roc_auc"] == 0.7
    assert metrics["ported"]["evaluations"][0]["results"]["n_clips"] == 40
    assert metrics["study"]["evaluations"][0]["measured_by"] == "project"
