"""The analyze command end to end: synthetic root with a checkpoint, real labels, bad arguments."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tagging.constants import SAMPLE_RATE
from training.cli import main
from training.study import clip_descriptors
from training.study.clip_descriptors import compute_clip_descriptors
from training.study.descriptors import DESCRIPTOR_NAMES

SR = SAMPLE_RATE


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    synth = pytest.importorskip("training.data.synth")
    root = tmp_path_factory.mktemp("synth_mtat")
    synth.synthesize(root, n_clips=30, seed=0, seconds=3.0, workers=1, progress=False)
    return root


def test_cli_end_to_end_on_synthetic_root(
    synth_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    from training.models import build_model

    # An untrained CRNN checkpoint in best.pt's format: its embeddings get projected too.
    model = build_model("cnn2d_lstm", n_tags=10, width=0.25)
    ckpt = tmp_path / "best.pt"
    torch.save(
        {
            "model_name": "cnn2d_lstm",
            "model_config": {"width": 0.25},
            "state_dict": model.state_dict(),
            "tags": ["t"] * 10,
            "chunk_samples": SR,
            "epoch": 0,
            "metric_name": "roc_auc",
            "metric": 0.5,
        },
        ckpt,
    )
    out = tmp_path / "study"
    argv = ["analyze", "--mtat-root", str(synth_root), "--out", str(out), "--max-clips", "20"]
    argv += ["--workers", "1", "--no-progress", "--checkpoint", str(ckpt)]
    assert main(argv) == 0
    report = (out / "report.md").read_text()
    assert "SYNTHETIC MTAT" in report and "not real music" in report
    assert "--max-clips 20" in report
    assert "## 1. Labels" in report and "## 2. Content" in report and "## 3. Projections" in report
    for png in (
        "tag_frequencies",
        "label_cardinality",
        "cooccurrence",
        "lift_pmi",
        "descriptors_by_tag",
        "pca_descriptors",
        "tsne_descriptors",
        "pca_embeddings",
        "tsne_embeddings",
    ):
        assert (out / f"{png}.png").stat().st_size > 1000, png
        assert f"({png}.png)" in report
    with open(out / "descriptors.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 20 and set(DESCRIPTOR_NAMES) <= set(rows[0])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"] == "SYNTHETIC MTAT" and summary["n_content"] == 20
    assert summary["n_total"] == 30
    assert set(summary["projections"]["descriptors"]["per_tag"]) == set(summary["tags"])
    emb = summary["projections"]["embeddings"]
    assert emb["per_tag"].keys() == summary["projections"]["descriptors"]["per_tag"].keys()
    assert summary["projections"]["checkpoint"]["model_name"] == "cnn2d_lstm"
    assert "model embeddings of `cnn2d_lstm`" in report

    # A rerun reads descriptors.csv instead of decoding again.
    def boom(path: str) -> None:
        raise AssertionError(f"descriptor recomputed for {path}")

    monkeypatch.setattr(clip_descriptors, "_descriptor_job", boom)
    ids = [int(r["clip_id"]) for r in rows]
    x, failures = compute_clip_descriptors(
        synth_root, ids, [r["mp3_path"] for r in rows], out / "descriptors.csv", 1, False
    )
    assert x.shape == (20, len(DESCRIPTOR_NAMES)) and not failures
    assert np.isfinite(x[:, DESCRIPTOR_NAMES.index("centroid")]).all()


def test_cli_real_labels_report(tmp_path: Path) -> None:
    out = tmp_path / "real"
    assert main(["analyze", "--real-labels", "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "real MTAT labels" in report and "CC BY-NC-SA 3.0" in report
    assert "9393" in report  # clips without a top-10 tag, against 25,863
    assert "**classical & techno**" in report  # called out among the near-exclusive pairs
    summary = json.loads((out / "summary.json").read_text())
    assert summary["labels"]["n_total"] == 25_863 and summary["n_content"] == 0
    assert not (out / "descriptors.csv").exists()


def test_cli_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["analyze", "--out", str(tmp_path)])  # no data source
    with pytest.raises(FileNotFoundError):
        main(["analyze", "--labels-table", str(tmp_path / "missing.tsv"), "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="checkpoint"):
        main(["analyze", "--real-labels", "--out", str(tmp_path), "--checkpoint", "x.pt"])
