"""Dataset study: label statistics, descriptors, tests, projections and the CLI end to end."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import false_discovery_control, mannwhitneyu

from training import analyze as an
from training.cli import main
from training.constants import SAMPLE_RATE, data_file
from training.data.audio import decode, encode_mp3
from training.descriptors import DESCRIPTOR_NAMES, compute_descriptors

SR = SAMPLE_RATE


# ------------------------------------------------------------------------------- label statistics


def _known_matrix() -> np.ndarray:
    # tags a, b, c over 8 clips: n_a = 4, n_b = 4, n_ab = 2; c (2 clips) only inside a; b, c never.
    return np.array(
        [
            [1, 1, 0],
            [1, 1, 0],
            [1, 0, 1],
            [1, 0, 1],
            [0, 1, 0],
            [0, 1, 0],
            [0, 0, 0],
            [0, 0, 0],
        ]
    )


def test_label_statistics_exact_values() -> None:
    st = an.label_statistics(_known_matrix(), ["a", "b", "c"])
    assert st.counts.tolist() == [4, 4, 2]
    assert st.cooc.tolist() == [[4, 2, 2], [2, 4, 0], [2, 0, 2]]
    # P(B|A) row-wise: P(b|a) = 2/4, P(c|a) = 2/4, P(a|c) = 2/2, P(c|b) = 0.
    assert st.cond[0, 1] == pytest.approx(0.5)
    assert st.cond[0, 2] == pytest.approx(0.5)
    assert st.cond[2, 0] == pytest.approx(1.0)
    assert st.cond[1, 2] == 0.0
    assert np.isnan(st.cond[0, 0])
    # lift = n_AB N / (n_A n_B): ab = 2*8/16 = 1, ac = 2*8/8 = 2, bc = 0.
    assert st.lift[0, 1] == pytest.approx(1.0)
    assert st.lift[0, 2] == pytest.approx(2.0)
    assert st.lift[1, 2] == 0.0
    assert st.pmi[0, 1] == pytest.approx(0.0)
    assert st.pmi[0, 2] == pytest.approx(1.0)
    assert np.isneginf(st.pmi[1, 2])
    assert st.expected[0, 1] == pytest.approx(2.0)
    assert st.cardinality == {0: 2, 1: 2, 2: 4}
    assert st.mean_cardinality == pytest.approx(10 / 8)
    assert st.share_none == pytest.approx(2 / 8)
    pair = next(p for p in st.pairs if (p["a"], p["b"]) == ("a", "c"))
    assert pair["n_ab"] == 2 and pair["lift"] == pytest.approx(2.0)


def test_label_statistics_population_counts_unlisted_clips() -> None:
    # Eight more clips without any tag (as in the packaged table) double N: lift doubles too.
    st = an.label_statistics(_known_matrix(), ["a", "b", "c"], n_total=16)
    assert st.lift[0, 1] == pytest.approx(2.0)
    assert st.pmi[0, 1] == pytest.approx(1.0)
    assert st.cardinality[0] == 10
    assert st.share_none == pytest.approx(10 / 16)
    with pytest.raises(ValueError, match="smaller"):
        an.label_statistics(_known_matrix(), ["a", "b", "c"], n_total=5)
    with pytest.raises(ValueError, match="0 and 1"):
        an.label_statistics(_known_matrix() * 2, ["a", "b", "c"])


def test_fisher_flags_planted_dependency_not_independent_pair() -> None:
    rng = np.random.default_rng(0)
    n = 600
    a = rng.random(n) < 0.3
    b = np.where(rng.random(n) < 0.8, a, rng.random(n) < 0.3)  # b copies a 80 % of the time
    # c independent of a and b by construction: 30 % of every (a, b) cell, rounded.
    c = np.zeros(n, dtype=bool)
    for cell in ((0, 0), (0, 1), (1, 0), (1, 1)):
        members = np.flatnonzero((a == cell[0]) & (b == cell[1]))
        c[members[: round(0.3 * len(members))]] = True
    d = (rng.random(n) < 0.3) & ~a  # never with a: a planted exclusion
    st = an.label_statistics(np.stack([a, b, c, d], 1).astype(int), ["a", "b", "c", "d"])
    q = {(p["a"], p["b"]): p for p in st.pairs}
    assert q[("a", "b")]["significant"] and q[("a", "b")]["lift"] > 1.5
    assert q[("a", "d")]["significant"] and q[("a", "d")]["n_ab"] == 0
    assert not q[("a", "c")]["significant"] and q[("a", "c")]["q"] > 0.05
    assert not q[("b", "c")]["significant"]


def test_corrections_match_reference() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.5, 0.002])
    np.testing.assert_allclose(an.benjamini_hochberg(p), false_discovery_control(p), rtol=1e-12)
    np.testing.assert_allclose(an.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    with_nan = an.holm([0.01, np.nan, 0.02])
    assert np.isnan(with_nan[1]) and with_nan[0] == pytest.approx(0.02)


def test_real_label_table_reads_and_counts() -> None:
    ids, tags, y = an.read_labels_table(data_file(an.REAL_LABELS_TABLE))
    assert len(ids) == len(y) == 16_470 and len(tags) == 10
    assert y.sum(axis=1).min() == 1  # every listed clip has a top-10 tag
    st = an.label_statistics(y, tags, n_total=an.MTAT_TOTAL_CLIPS)
    assert st.cardinality[0] == an.MTAT_TOTAL_CLIPS - 16_470
    i, j = tags.index("classical"), tags.index("techno")
    assert st.lift[i, j] < 0.1 and st.q_values[i, j] < 1e-10


# ------------------------------------------------------------------------------------ descriptors


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SR)) / SR


@pytest.mark.parametrize("freq", [440.0, 1000.0, 3000.0])
def test_sine_centroid_is_its_frequency(freq: float) -> None:
    d = compute_descriptors(0.5 * np.sin(2 * np.pi * freq * _t(3)))
    assert d["centroid"] == pytest.approx(freq, rel=0.02)
    assert d["rolloff"] == pytest.approx(freq, rel=0.05)
    assert d["zcr"] == pytest.approx(2 * freq / SR, rel=0.02)
    assert d["rms"] == pytest.approx(0.5 / math.sqrt(2), rel=0.02)
    assert set(d) == set(DESCRIPTOR_NAMES)


def test_sine_through_mp3_keeps_its_centroid(tmp_path: Path) -> None:
    encode_mp3(0.5 * np.sin(2 * np.pi * 1000 * _t(3)), tmp_path / "sine.mp3")
    d = compute_descriptors(decode(tmp_path / "sine.mp3"))
    assert d["centroid"] == pytest.approx(1000, rel=0.03)


def test_noise_is_flat_and_sine_is_not() -> None:
    noise = compute_descriptors(0.3 * np.random.default_rng(0).standard_normal(3 * SR))
    sine = compute_descriptors(0.5 * np.sin(2 * np.pi * 440 * _t(3)))
    assert noise["flatness"] > 0.4
    assert sine["flatness"] < 0.01
    assert noise["centroid"] == pytest.approx(SR / 4, rel=0.05)  # white: centre of the band
    assert noise["onset_rate"] < 1.0  # stationary noise has (almost) no onsets


@pytest.mark.parametrize("rate", [1.0, 2.0, 4.0, 6.0])
def test_click_train_onset_rate(rate: float) -> None:
    x = 0.005 * np.random.default_rng(1).standard_normal(10 * SR)
    x[(np.arange(0.25, 10, 1 / rate) * SR).astype(int)] += 1.0
    d = compute_descriptors(x)
    assert d["onset_rate"] == pytest.approx(rate, rel=0.1)
    if rate == 2.0:  # 2 clicks/s = 120 BPM, the middle of the tempo range
        assert d["tempo_bpm"] == pytest.approx(120, rel=0.03)
        assert d["tempo_strength"] > 0.5


def test_descriptors_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="too short"):
        compute_descriptors(np.zeros(100))
    with pytest.raises(ValueError, match="NaN"):
        compute_descriptors(np.full(4000, np.nan))


# ------------------------------------------------------------------- separability and structure


def test_mann_whitney_auc_and_effect() -> None:
    r = an.mann_whitney(np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0, np.nan]))
    assert r["auc"] == 0.0 and r["auc_free"] == 1.0 and r["effect"] == -1.0
    assert r["n_b"] == 3
    rng = np.random.default_rng(0)
    a, b = rng.normal(1, 1, 50), rng.normal(0, 1, 60)
    r = an.mann_whitney(a, b)
    ref = mannwhitneyu(a, b, alternative="two-sided")
    assert r["auc"] == pytest.approx(ref.statistic / (50 * 60))
    assert r["p"] == pytest.approx(ref.pvalue)
    assert r["effect"] == pytest.approx(2 * r["auc"] - 1)


def test_separability_tests_find_planted_descriptor() -> None:
    rng = np.random.default_rng(0)
    n = 120
    y = np.zeros((n, 2), dtype=int)
    y[:50, 0] = 1  # slow
    y[60:110, 1] = 1  # fast
    x = rng.normal(size=(n, 3))
    x[:, 1] += 3 * y[:, 1]  # descriptor 1 separates fast from slow
    x[60:110, [0, 2]] = x[:50, [0, 2]][::-1]  # 0 and 2: the same values in both groups
    rows = an.separability_tests(
        x, y, ["slow", "fast"], ["d0", "d1", "d2"], pairs=[("slow", "fast")]
    )
    by = {r["descriptor"]: r for r in rows}
    assert by["d1"]["auc_free"] > 0.95 and by["d1"]["p_holm"] < 1e-6
    assert by["d1"]["auc"] < 0.05  # slow (A) is below fast (B)
    assert by["d0"]["auc"] == pytest.approx(0.5) and by["d0"]["p_holm"] == pytest.approx(1.0)
    assert by["d2"]["p_holm"] == pytest.approx(1.0)
    assert all(r["p_holm"] >= r["p"] for r in rows)


def test_cluster_quality_measures_structure() -> None:
    rng = np.random.default_rng(0)
    n = 200
    lab = (np.arange(n) < 60).astype(int)
    clustered = rng.normal(size=(n, 5)) + 6 * lab[:, None]
    random = rng.normal(size=(n, 5))
    good = an.cluster_quality(clustered, lab[:, None], ["t"], k=10)[0]
    none = an.cluster_quality(random, lab[:, None], ["t"], k=10)[0]
    assert good["silhouette"] > 0.5 and good["knn_purity"] > 0.95
    assert good["enrichment"] > 3
    assert abs(none["silhouette"]) < 0.1 and 0.6 < none["enrichment"] < 1.5
    assert none["base_rate"] == pytest.approx(59 / 199)


def test_knn_purity_excludes_same_song_neighbours() -> None:
    # Songs of 4 near-identical clips, song tags random: all neighbours of a clip are its own
    # song, so raw purity is high, but across songs there is no structure at all.
    rng = np.random.default_rng(0)
    n_songs = 60
    centres = rng.normal(size=(n_songs, 4))
    z = np.repeat(centres, 4, axis=0) + 1e-3 * rng.normal(size=(4 * n_songs, 4))
    lab = np.repeat(rng.random(n_songs) < 0.3, 4).astype(int)
    songs = [
        an.song_key(f"0/artist-album-{i // 4:02d}-song-{30 * (i % 4)}-{30 * (i % 4) + 29}.mp3")
        for i in range(4 * n_songs)
    ]
    assert len(set(songs)) == n_songs
    r = an.cluster_quality(z, lab[:, None], ["t"], k=3, groups=songs)[0]
    assert r["knn_purity"] == pytest.approx(1.0)
    assert r["enrichment_xsong"] < 2.0 < r["enrichment"]


def test_standardize_and_subsample() -> None:
    z = an.standardize(np.array([[1.0, np.nan], [3.0, 2.0], [5.0, 4.0]]))
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    a = an.select_clips(100, 10, seed=3)
    assert len(a) == 10 and np.all(np.diff(a) > 0)
    assert np.array_equal(a, an.select_clips(100, 10, seed=3))
    assert np.array_equal(an.select_clips(5, None, 0), np.arange(5))


def test_model_embeddings_hook_averages_penultimate_features() -> None:
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(50, 8)
            self.head = nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S) -> (B, 3)
            h = x.reshape(x.shape[0], -1, 50).abs().mean(1)  # (B, 50)
            return self.head(torch.relu(self.body(h)))

    torch.manual_seed(0)
    model = Tiny()
    rng = np.random.default_rng(0)
    waves = [
        rng.standard_normal(1000).astype(np.float32),
        rng.standard_normal(700).astype(np.float32),
    ]
    emb = an.model_embeddings(model, waves, chunk_samples=500, n_tags=3, n_chunks=4, device="cpu")
    assert emb.shape == (2, 8)
    from training.data.audio import chunk_starts, take_chunks

    chunks = take_chunks(waves[0], chunk_starts(1000, 500, 4), 500)
    with torch.no_grad():
        h = torch.from_numpy(chunks).reshape(4, -1, 50).abs().mean(1)
        ref = torch.relu(model.body(h)).mean(0).numpy()
    np.testing.assert_allclose(emb[0], ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="5 outputs"):
        an.final_linear(model, 5)


# --------------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    synth = pytest.importorskip("training.synth")
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

    monkeypatch.setattr(an, "_descriptor_job", boom)
    ids = [int(r["clip_id"]) for r in rows]
    x, failures = an.compute_clip_descriptors(
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


def test_data_kind_detection(tmp_path: Path) -> None:
    ids, _, y = an.read_labels_table(data_file(an.REAL_LABELS_TABLE))
    with open(data_file(an.REAL_LABELS_TABLE), newline="") as f:
        paths = [r["mp3_path"] for r in csv.DictReader(f, delimiter="\t")]
    kind, reason = an.detect_data_kind(tmp_path, ids[:50], paths[:50], y[:50])
    assert kind == "real" and "100.0%" in reason
    fake = [f"0/made_up-song-{i}.mp3" for i in range(50)]
    assert an.detect_data_kind(tmp_path, ids[:50], fake, y[:50])[0] == "synthetic"


def test_cli_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["analyze", "--out", str(tmp_path)])  # no data source
    with pytest.raises(FileNotFoundError):
        main(["analyze", "--labels-table", str(tmp_path / "missing.tsv"), "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="checkpoint"):
        main(["analyze", "--real-labels", "--out", str(tmp_path), "--checkpoint", "x.pt"])
