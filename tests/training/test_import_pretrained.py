"""import-pretrained's readers of the published figures, and evaluate-models' exported-model path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagging.audio import chunk_starts, take_chunks
from tagging.card import ModelCard
from tagging.constants import SAMPLE_RATE, TOP10_TAGS
from tests.app.support import TAGS50, tone, write_model
from training.evaluate import evaluate
from training.evaluate_onnx import OnnxModel, evaluate_folder, read_labels
from training.import_pretrained import (
    pons_published,
    read_predictions,
    won_fcn_report,
    won_musicnn_mtat,
)


def write_predictions(root: Path, rng: np.random.Generator, n: int = 30) -> tuple[np.ndarray, ...]:
    """Third-party CSVs in their layout: ``index<TAB>path,v1..v50`` (paths with commas too)."""
    results = root / "results"
    results.mkdir(parents=True)
    y_true = (rng.random((n, 50)) < 0.3).astype(float)
    y_true[0], y_true[1] = 1, 0
    y_prob = np.clip(0.3 * y_true + 0.7 * rng.random((n, 50)), 0, 1)
    for name, values in (("est", y_prob), ("gt", y_true)):
        lines = [
            f"{i}\tf/a,b-{i}.mp3," + ",".join(map(str, row.tolist()))
            for i, row in enumerate(values)
        ]
        (results / f"mtat_musicnn_test_{name}.csv").write_text("\n".join(lines) + "\n")
    return y_true, y_prob


def test_won_musicnn_figures_are_evaluate_on_the_predictions(tmp_path: Path) -> None:
    y_true, y_prob = write_predictions(tmp_path, np.random.default_rng(0))
    paths, values = read_predictions(tmp_path / "results" / "mtat_musicnn_test_est.csv")
    assert paths[1] == "f/a,b-1.mp3" and np.allclose(values, y_prob)
    entry = won_musicnn_mtat(tmp_path, list(TAGS50))
    assert entry["results"] == evaluate(y_true, y_prob, TAGS50)
    ten = evaluate(y_true[:, :10], y_prob[:, :10], TOP10_TAGS)["macro"]
    assert entry["macro_project_tags"]["roc_auc"] == ten["roc_auc"]
    assert entry["measured_by"] == "project" and entry["n_clips"] == 30


def test_fcn_report_and_pons_results_are_taken_as_published(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    rows = [f"{t},0.1,0.9,0.0,1.0,{0.80 + i / 1000:.3f},0,0,0,0" for i, t in enumerate(TAGS50)]
    header = ",Ratio of positive samples,Model accuracy,True positives ratio,True negatives ratio,AUC,Recall,Precision,f1-score,Kappa score"
    (results / "mtat_fcn_results_report.csv").write_text("\n".join([header, *rows]) + "\n")
    (results / "mtat_fcn_evaluation.txt").write_text("Area Under the Curve (AUC) is: 0.9002\n")
    fcn = won_fcn_report(tmp_path, list(TAGS50))
    assert fcn["measured_by"] == "source" and fcn["macro"] == {"roc_auc": 0.9002, "pr_auc": None}
    assert fcn["per_tag"]["classical"] == {"roc_auc": 0.801, "pr_auc": None}
    for name, text in (
        ("MTT_musicnn", "ROC-AUC: 0.9066\nPR-AUC: 0.3831\n"),
        ("MTT_vgg", "AUC: 0.903\nAUC: 0.382\n"),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "experiment.result").write_text("Results:\n" + text)
    assert pons_published(tmp_path, "pons_musicnn", "MTT_musicnn", "c")["macro"]["pr_auc"] == 0.3831
    assert pons_published(tmp_path, "pons_vgg", "MTT_vgg", "c")["macro"]["roc_auc"] == 0.903
    with pytest.raises(FileNotFoundError, match="experiment.result"):
        pons_published(tmp_path, "x", "missing", "c")


def test_evaluate_models_runs_the_exported_model_on_labelled_recordings(tmp_path: Path) -> None:
    folder = write_model(tmp_path / "models", "m", 8_000, 0.7)
    real = tmp_path / "real"
    real.mkdir()
    labels = [("a.wav", "guitar,drums", 2.0), ("b.wav", "", 0.5), ("c.wav", "guitar", 3.0)]
    for i, (name, _, seconds) in enumerate(labels):
        sf.write(real / name, tone(seconds, seed=i), SAMPLE_RATE, subtype="FLOAT")
    rows = "".join(f"{n}\t{t}\tnote\n" for n, t, _ in labels)
    (real / "labels.tsv").write_text("file\ttags\tnote\n" + rows)
    assert read_labels(real)[0] == ("a.wav", ["guitar", "drums"])
    card = evaluate_folder(folder, None, real, None)
    entry = card.evaluations[-1]
    assert [e["id"] for e in card.evaluations] == ["synthetic_test", "real_recordings"]
    model = OnnxModel(folder)  # by hand: 16 evenly spaced zero-padded chunks, mean
    probs = []
    for i, (_, _, seconds) in enumerate(labels):
        x = tone(seconds, seed=i)
        chunks = take_chunks(x, chunk_starts(len(x), 8_000, 16), 8_000)
        probs.append(model.session.run(None, {"waveform": chunks})[0].mean(axis=0))
    y_true = np.array([[t in tags for t in TOP10_TAGS] for _, tags, _ in labels], dtype=int)
    expected = evaluate(y_true, np.array(probs), TOP10_TAGS)
    assert entry["results"]["per_tag"]["guitar"]["roc_auc"] == pytest.approx(
        expected["per_tag"]["guitar"]["roc_auc"]
    )
    assert entry["n_clips"] == 3 and set(entry["top3_of_the_ten"]) == {"a.wav", "b.wav", "c.wav"}
    assert ModelCard.model_validate(card.dump()).dump() == card.dump()  # JSON-ready, round-trips
