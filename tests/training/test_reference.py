"""training.reference: a saved benchmark run and the differences a rerun reports against it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from training.reference import compare, save, tree_digest
from training.train import LOG_COLUMNS

ENVIRONMENT = {
    "machine": "x86_64",
    "cpu": "some CPU",
    "torch_cpu_capability": "AVX2",
    "torch_threads": 2,
    "packages": {"torch": "2.14.1", "numpy": "2.4.6"},
    "audio_libraries": {"libsndfile": "1.2.2", "ffmpeg": "8.1.2"},
}


def write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def fake_bench(root: Path, loss: float = 0.5, seconds: float = 10.0) -> Path:
    """A benchmark --out folder of two models, two epochs each."""
    results = []
    for model in ("cnn1d", "cnn2d_gru"):
        rows = [
            {"epoch": e, "train_loss": loss / e, "val_loss": 0.6, "val_accuracy": 0.9,
             "val_roc_auc": 0.7 + e / 10, "val_pr_auc": 0.4, "lr": 1e-3, "seconds": seconds,
             "clips_per_s": 50, "data_wait_share": 0.02}
            for e in (1, 2)
        ]  # fmt: skip
        assert set(rows[0]) == set(LOG_COLUMNS)
        write_csv(root / "checkpoints" / model / "log.csv", rows)
        results.append(
            {"model": model, "roc_auc": 0.9, "pr_auc": 0.5, "accuracy": 0.9, "f1": 0.3,
             "f1_tuned": 0.4, "epochs": 2, "best_epoch": 2, "train_seconds": seconds}
        )  # fmt: skip
    write_csv(root / "results.csv", results)
    (root / "results.md").write_text("| model |\n")
    (root / "environment.json").write_text(json.dumps(ENVIRONMENT))
    return root


def test_a_rerun_with_other_timings_is_identical(tmp_path: Path) -> None:
    mtat = tmp_path / "mtat"
    (mtat / "0").mkdir(parents=True)
    (mtat / "0" / "a.mp3").write_bytes(b"mp3 bytes")
    (mtat / "annotations_final.csv").write_text("clip_id\n")
    save(fake_bench(tmp_path / "run1"), tmp_path / "ref", mtat=mtat)
    assert sorted(p.name for p in (tmp_path / "ref").iterdir()) == [
        "cnn1d", "cnn2d_gru", "data_sha256.json", "environment.json", "results.csv", "results.md"
    ]  # fmt: skip
    assert json.loads((tmp_path / "ref/data_sha256.json").read_text())["mtat"]["files"] == 2
    rerun = fake_bench(tmp_path / "run2", seconds=12.5)  # wall-clock columns differ
    assert compare(tmp_path / "ref", rerun, mtat=mtat) == []


def test_every_kind_of_difference_is_reported(tmp_path: Path) -> None:
    mtat = tmp_path / "mtat"
    mtat.mkdir()
    (mtat / "a.mp3").write_bytes(b"one")
    save(fake_bench(tmp_path / "run1"), tmp_path / "ref", mtat=mtat)
    before = tree_digest(mtat, ("*.mp3",))
    (mtat / "a.mp3").write_bytes(b"two")
    assert tree_digest(mtat, ("*.mp3",)) != before
    rerun = fake_bench(tmp_path / "run2", loss=0.51)
    env = {**ENVIRONMENT, "torch_threads": 4}
    (rerun / "environment.json").write_text(json.dumps(env))
    lines = compare(tmp_path / "ref", rerun, mtat=mtat)
    assert any(line.startswith("environment torch_threads: reference 2, rerun 4") for line in lines)
    assert any(line.startswith("data mtat") for line in lines)
    assert any("cnn1d log.csv: epoch 1 differs first: train_loss 0.5 -> 0.51" in x for x in lines)
    assert not any("results" in line for line in lines)  # the test figures happen to agree
