"""Calibrated thresholds: both policies on known arrays, leakage-free cross-fitting, refusal of
data that is not real MTAT, and the command end to end on a tiny CSV pair in the real layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.calibrate import (
    REAL_MTAT_TEST,
    CalibrationRefused,
    Predictions,
    assign_folds,
    calibrate,
    cross_fit,
    decide,
    decision_metrics,
    load_real_mtat,
    precision_thresholds,
    song_of,
)
from training.cli import main
from training.evaluate import evaluate, tune_thresholds

# One tag: scores descending, truth 1 1 0 1 0 0.
Y = np.array([[1], [1], [0], [1], [0], [0]])
P = np.array([[0.9], [0.8], [0.7], [0.6], [0.3], [0.1]])


def test_f1_threshold_on_known_scores() -> None:
    # F1 by cut: .9 -> .5, .8 -> .8, .7 -> .667, .6 -> .857 (best), .3 -> .75; midpoint to .3.
    assert tune_thresholds(Y, P)[0] == pytest.approx(0.45)


def test_precision_threshold_is_the_lowest_reaching_the_target() -> None:
    # precision by cut: .9 -> 1, .8 -> 1, .7 -> .667, .6 -> .75, .3 -> .6, .1 -> .5
    assert precision_thresholds(Y, P, 0.8)[0] == pytest.approx(0.75)  # cut .8, midpoint to .7
    assert precision_thresholds(Y, P, 0.75)[0] == pytest.approx(0.45)  # cut .6, midpoint to .3
    assert decide(P, precision_thresholds(Y, P, 0.8))[:, 0].tolist() == [1, 1, 0, 0, 0, 0]


def test_precision_threshold_is_none_where_no_threshold_reaches_it() -> None:
    y = np.array([[0, 1], [1, 0], [0, 1], [1, 0], [0, 0]])
    p = np.array([[0.9, 0.9], [0.5, 0.2], [0.8, 0.8], [0.4, 0.1], [0.7, 0.3]])
    # tag 0: every positive scores below every negative, best precision 2/5; tag 1 reaches 1.0
    thr = precision_thresholds(y, p, 0.8)
    assert np.isnan(thr[0]) and thr[1] == pytest.approx(0.55)
    assert not decide(p, thr)[:, 0].any()
    preds = Predictions(y, p, ("a", "b"), tuple(f"s{i}-0-29.mp3" for i in range(5)), REAL_MTAT_TEST)
    result = calibrate(preds, k_folds=2, seed=0)
    assert result["thresholds"]["precision"]["a"] is None
    assert result["thresholds"]["precision"]["b"] == pytest.approx(0.55)
    json.dumps(result, allow_nan=False)  # null, never NaN, on the card


def test_cross_fitting_never_fits_on_the_held_out_fold() -> None:
    """Two songs, one per fold. Fitted on song A alone the threshold (.85) decides nothing in
    song B; fitted on B alone (.25) it decides both clips of A. Pooled held-out: tp 1, fp 1,
    fn 1 -> F1 0.5. Fitting on all four clips would give threshold .25 and F1 0.8."""
    y = np.array([[1], [0], [1], [0]])
    p = np.array([[0.9], [0.8], [0.3], [0.2]])
    clips = ["a/song_a-0-29.mp3", "a/song_a-29-58.mp3", "b/song_b-0-29.mp3", "b/song_b-29-58.mp3"]
    folds = assign_folds(4, 2, seed=0, groups=[song_of(c) for c in clips])
    assert folds[0] == folds[1] != folds[2] == folds[3]
    decisions, per_fold = cross_fit(y, p, folds, tune_thresholds)
    assert decisions[:, 0].tolist() == [True, True, False, False]
    assert sorted(per_fold[:, 0].tolist()) == pytest.approx([0.25, 0.85])
    assert decision_metrics(y, decisions, ["t"])["micro"]["f1"] == pytest.approx(0.5)
    leaked = decide(p, tune_thresholds(y, p))
    assert decision_metrics(y, leaked, ["t"])["micro"]["f1"] == pytest.approx(0.8)
    result = calibrate(Predictions(y, p, ("t",), tuple(clips), REAL_MTAT_TEST), k_folds=2)
    assert result["cross_fitted"]["f1"]["per_tag"]["t"]["f1"] == pytest.approx(0.5)
    assert result["in_sample"]["f1"]["micro"]["f1"] == pytest.approx(0.8)


def test_fit_sees_exactly_the_other_folds() -> None:
    rng = np.random.default_rng(1)
    n = 60
    y = (rng.random((n, 2)) < 0.4).astype(int)
    p = np.column_stack([np.arange(n) / n, rng.random(n)])  # column 0 marks each clip
    folds = assign_folds(n, 5, seed=3)
    seen: list[set[int]] = []

    def spy(t: np.ndarray, s: np.ndarray) -> np.ndarray:
        seen.append({round(v * n) for v in s[:, 0]})
        return tune_thresholds(t, s)

    cross_fit(y, p, folds, spy)
    for f, marks in zip(np.unique(folds), seen, strict=True):
        assert marks == set(np.flatnonzero(folds != f).tolist())


def test_folds_keep_a_song_together_and_are_seeded() -> None:
    clips = [
        f"{d}/song{s}-{29 * i}-{29 * i + 29}.mp3" for s in range(20) for i in range(3) for d in "a"
    ]
    groups = [song_of(c) for c in clips]
    folds = assign_folds(len(clips), 4, seed=5, groups=groups)
    for s in set(groups):
        assert len({folds[i] for i, g in enumerate(groups) if g == s}) == 1
    assert sorted(np.bincount(folds).tolist()) == [15, 15, 15, 15]
    assert np.array_equal(folds, assign_folds(len(clips), 4, seed=5, groups=groups))
    assert not np.array_equal(folds, assign_folds(len(clips), 4, seed=6, groups=groups))


def test_decision_metrics_agree_with_evaluate_on_one_threshold_vector() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((200, 4)) < 0.3).astype(int)
    p = np.clip(y * 0.3 + rng.random((200, 4)) * 0.7, 0, 1)
    thr = tune_thresholds(y, p)
    ours = decision_metrics(y, decide(p, thr), list("abcd"))
    ref = evaluate(y, p, list("abcd"), thr)
    for tag in "abcd":
        for m in ("precision", "recall", "f1"):
            assert ours["per_tag"][tag][m] == pytest.approx(ref["per_tag"][tag][f"{m}_tuned"])
    for m in ("precision", "recall", "f1"):
        assert ours["micro"][m] == pytest.approx(ref["micro"][f"{m}_tuned"])
        assert ours["macro"][m] == pytest.approx(ref["macro"][f"{m}_tuned"])


def test_synthetic_or_unknown_predictions_are_refused(tmp_path: Path) -> None:
    synthetic = Predictions(Y, P, ("t",), tuple(f"s{i}.mp3" for i in range(6)), "synthetic_mtat")
    with pytest.raises(CalibrationRefused, match="only on real MTAT"):
        calibrate(synthetic)
    with pytest.raises(CalibrationRefused, match="'cnn_small' has no real-MTAT predictions"):
        load_real_mtat("cnn_small", tmp_path)


# ----------------------------------------------------------------------- command end to end
def _write_root(root: Path, n_songs: int = 12, segs: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The published layout: results/mtat_musicnn_test_{est,gt}.csv and mtat/tags.txt."""
    tags = ["guitar", "female voice", "rock"]
    rng = np.random.default_rng(4)
    n = n_songs * segs
    y = (rng.random((n, 3)) < 0.35).astype(int)
    y[0] = 1
    p = np.round(np.clip(0.45 * y + 0.55 * rng.random((n, 3)), 0, 1), 6)
    paths = [
        f"{'0123456789abcdef'[s % 16]}/artist{s}-album-01-song-{29 * i}-{29 * i + 29}.mp3"
        for s in range(n_songs)
        for i in range(segs)
    ]
    (root / "results").mkdir(parents=True)
    (root / "mtat").mkdir()
    (root / "mtat" / "tags.txt").write_text("\n".join(tags) + "\n")
    for name, values in (("est", p), ("gt", y.astype(float))):
        rows = [
            f"{i}\t{path}," + ",".join(str(v) for v in values[i]) for i, path in enumerate(paths)
        ]
        (root / "results" / f"mtat_musicnn_test_{name}.csv").write_text("\n".join(rows) + "\n")
    return y, p


def test_command_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, out = tmp_path / "won", tmp_path / "out" / "won_musicnn.json"
    y, p = _write_root(root)
    argv = [
        "calibrate",
        "--model",
        "won_musicnn",
        "--root",
        str(root),
        "--k",
        "3",
        "--out",
        str(out),
    ]
    with pytest.raises(SystemExit, match="not the published real-MTAT predictions"):
        main(argv)
    assert not out.exists()
    assert main([*argv, "--allow-unpublished"]) == 0
    block = json.loads(out.read_text())
    tags = ["guitar", "female voice", "rock"]
    assert list(block["thresholds"]["f1"]) == tags
    assert [block["thresholds"]["f1"][t] for t in tags] == pytest.approx(
        tune_thresholds(y, p).tolist()
    )
    expected_p = precision_thresholds(y, p)
    for t, v in zip(tags, expected_p, strict=True):
        got = block["thresholds"]["precision"][t]
        assert (got is None) if np.isnan(v) else got == pytest.approx(v)
    prov = block["provenance"]
    assert prov["n_clips"] == 36 and prov["n_songs"] == 12 and prov["k_folds"] == 3
    assert prov["published_files"] is False and prov["seed"] == 0
    assert prov["command"].startswith("python -m training calibrate --model won_musicnn")
    assert block["policy_default"] == "f1"
    for policy in ("f1", "precision"):
        assert set(block["cross_fitted"][policy]) == {"per_tag", "macro", "micro"}
        assert set(block["cross_fitted"][policy]["per_tag"]) == set(tags)
    table = capsys.readouterr().out
    assert "| female voice | " in table and "**micro** (cross-fitted)" in table
