"""benchmark(): two models on a tiny synthetic MTAT write every table, plot and evaluation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.training.support import TINY_OVERRIDES
from training.benchmark import RESULT_COLUMNS, benchmark

TINY = {**TINY_OVERRIDES, "epochs": 1}


@pytest.mark.slow  # ~30-50 s on 2 cores: synth + prepare + two trainings + plots
def test_benchmark_two_models_writes_tables_and_plots(tmp_path: Path) -> None:
    mtat, out = tmp_path / "mtat", tmp_path / "bench"
    from training.data.synth import synthesize

    synthesize(mtat, 48, seed=1, seconds=2.0, workers=1, progress=False)
    models = ["cnn1d", "cnn2d_gru"]
    summary = benchmark(
        mtat, out, models=models, quick=True, workers=1, progress=False, overrides=TINY
    )

    assert (out / "cache" / "meta.json").is_file()  # prepared on the fly
    for model in models:
        run = out / "checkpoints" / model
        for name in ("best.pt", "last.pt", "log.csv", "evaluation.json", "test_predictions.npz"):
            assert (run / name).is_file(), f"{model}/{name}"
        evaluation = json.loads((run / "evaluation.json").read_text())
        assert evaluation["split"] == "test" and evaluation["thresholds_from"] == "valid"
        assert evaluation["results"]["n_clips"] == evaluation["dataset"]["splits"]["test"]["clips"]
        assert set(evaluation["results"]) >= {"per_tag", "macro", "micro", "baseline_all_negative"}
        assert evaluation["inference"]["clips_per_s"] > 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert tuple(rows[0]) == RESULT_COLUMNS and {r["model"] for r in rows} == set(models)
    assert all(int(r["parameters"]) > 0 and float(r["input_seconds"]) == 1.0 for r in rows)
    assert json.loads((out / "results.json").read_text())["best_model"] == summary["best_model"]
    md = (out / "results.md").read_text()
    assert "ROC-AUC per tag" in md and "all-negative baseline" in md
    for metric in ("roc_auc", "pr_auc"):
        table = list(csv.DictReader((out / f"per_tag_{metric}.csv").open()))
        assert len(table) == len(summary["per_tag"][metric]) and set(models) <= set(table[0])
        assert (out / f"per_tag_{metric}.md").is_file()
    for png in ("per_tag_roc_auc", "per_tag_pr_auc", "curves_best_model", "training_curves"):
        data = (out / "figures" / f"{png}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000

    # resumable: finished models are reused (no retraining: checkpoints untouched)
    mtime = (out / "checkpoints/cnn1d/best.pt").stat().st_mtime_ns
    again = benchmark(
        mtat, out, models=models, quick=True, workers=1, progress=False, overrides=TINY
    )
    assert (out / "checkpoints/cnn1d/best.pt").stat().st_mtime_ns == mtime
    assert again["models"] == summary["models"]


def test_benchmark_rejects_unknown_models_and_missing_data(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model"):
        benchmark(tmp_path / "mtat", tmp_path / "out", models=["resnet9000"], progress=False)
    with pytest.raises(SystemExit, match="synth-clips"):
        benchmark(tmp_path / "mtat", tmp_path / "out", models=["cnn1d"], quick=True, progress=False)


def test_write_reports_from_evaluations(tmp_path: Path) -> None:
    """The report writer alone (fast): tables, CSVs and PNGs from two models' evaluations."""
    import numpy as np

    from training.benchmark import write_reports
    from training.evaluate import evaluate

    rng = np.random.default_rng(0)
    tags = ["rock", "piano", "fast"]
    y_true = (rng.random((40, 3)) < 0.3).astype(np.float32)
    evaluations = {}
    for i, model in enumerate(["good", "noisy"]):
        y_prob = np.clip(y_true * (0.6 - 0.4 * i) + rng.random((40, 3)) * 0.5, 0, 1)
        run = tmp_path / "checkpoints" / model
        run.mkdir(parents=True)
        np.savez(run / "test_predictions.npz", y_true=y_true, y_prob=y_prob)
        history = [
            {"epoch": e, "train_loss": 0.5 / e, "val_loss": 0.6 / e, "val_roc_auc": 0.6 + 0.1 * e}
            for e in (1, 2)
        ]
        evaluations[model] = {
            "model": model,
            "dataset": {"splits": {"test": {"clips": 40, "positives": y_true.sum(0).tolist()}}},
            "results": evaluate(y_true, y_prob, tags),
            "parameters": 1000 * (i + 1),
            "input": {"samples": 16000, "seconds": 1.0},
            "training": {"epochs": 2, "best_epoch": 2, "train_seconds": 12.5, "history": history},
            "inference": {"clips_per_s": 50.0},
        }
    summary = write_reports(tmp_path, evaluations, {"profile": "quick"})
    assert summary["best_model"] == "good"
    assert [r["model"] for r in summary["models"]] == ["good", "noisy"]
    rows = list(csv.DictReader((tmp_path / "per_tag_roc_auc.csv").open()))
    assert [r["tag"] for r in rows] == tags
    expected = evaluations["noisy"]["results"]["per_tag"]["piano"]["roc_auc"]
    assert float(rows[1]["noisy"]) == pytest.approx(expected)
    assert "| good |" in (tmp_path / "results.md").read_text()
    for png in ("per_tag_roc_auc", "per_tag_pr_auc", "curves_best_model", "training_curves"):
        assert (tmp_path / "figures" / f"{png}.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow  # ~1 min on 2 cores: 240 synthetic clips, two quick-profile trainings
def test_quick_setup_learns_the_synthetic_tags(tmp_path: Path) -> None:
    """The one learning setup learns real tag evidence: both model classes end clearly above
    chance (0.5 macro ROC-AUC) on the held-out folder split of a synthetic MTAT.

    With 15 validation and 45 test clips the kept epoch and its figure swing with the last bits
    of the float sums, which follow torch's thread count: the run pins two threads (the quick
    profile's) so the figure is the same on every machine with the same torch build and CPU
    instruction set (torch 2.14.1, AVX2: cnn1d 0.827, cnn2d_gru 0.722)."""
    from training.data.synth import synthesize

    mtat = tmp_path / "mtat"
    synthesize(mtat, 240, seed=5, seconds=6.0, workers=2, progress=False)
    summary = benchmark(
        mtat,
        tmp_path / "bench",
        models=["cnn1d", "cnn2d_gru"],
        quick=True,
        workers=2,
        progress=False,
        overrides={"epochs": 6, "device": "cpu", "threads": 2},
    )
    by_model = {row["model"]: row for row in summary["models"]}
    for model in ("cnn1d", "cnn2d_gru"):
        assert by_model[model]["roc_auc"] > 0.7, by_model[model]
