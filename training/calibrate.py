"""Calibrated per-tag decision thresholds, with cross-fitted evidence (command: ``calibrate``).

A tagger outputs probabilities; users want decisions ("this track is *classical*, *strings*").
Two policies per tag:

* ``f1``: the threshold that maximises the tag's F1 (:func:`training.evaluate.tune_thresholds`);
* ``precision``: the lowest threshold whose precision reaches ``target`` (0.8 by default), i.e. the
  most recall a tag can have while 4 of 5 of its decisions are right; a tag whose precision never
  reaches the target gets no threshold (``null``): that policy never decides it.

Both are fitted on all clips for the card. The figures that describe them come from K-fold
cross-fitting: for each fold the thresholds are fitted on the other K-1 folds and applied to the
held-out fold, and the held-out decisions are pooled over the folds, so every figure comes from
clips its threshold was not chosen on. Folds are shuffled (seeded) and grouped by song: MTAT cuts
each song into consecutive ~29-s clips, and a song's clips in both the fitting and the held-out
part would flatter the thresholds.

Only real MTAT predictions are calibrated: :data:`REAL_MTAT` names the models that have them
(Won et al.'s published test-split predictions of ``won_musicnn``), :func:`load_real_mtat`
checks the files byte for byte against the published ones, and :func:`calibrate` refuses any
:class:`Predictions` not marked as real MTAT (a synthetic cache, an unknown file).

CLI: ``python -m training calibrate --model won_musicnn --out reports/thresholds/won_musicnn.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve

from tagging.files import atomic_write_text
from training.evaluate import _check_arrays, _mean_defined, evaluate, tune_thresholds

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
WON_ROOT = REPO.parent / "shared" / "pretrained" / "sota-music-tagging-models"

REAL_MTAT_TEST = "mtat_test_real"
"""The one data kind :func:`calibrate` accepts: predictions on real MTAT test-split audio."""
POLICIES: tuple[str, ...] = ("f1", "precision")
DEFAULT_TARGET_PRECISION = 0.8


class CalibrationRefused(ValueError):
    """The predictions are not real MTAT predictions of a known model: no thresholds for them."""


@dataclass(frozen=True)
class RealSource:
    """Where a model's published real-MTAT test predictions live (paths relative to a root)."""

    est: str
    gt: str
    tags: str
    sha256: dict[str, str]
    data: str
    source: str
    citation: str
    licence: str


REAL_MTAT: dict[str, RealSource] = {
    "won_musicnn": RealSource(
        est="results/mtat_musicnn_test_est.csv",
        gt="results/mtat_musicnn_test_gt.csv",
        tags="mtat/tags.txt",
        sha256={
            "est": "84ac7601b792cadc673c48f56f1978b5b5849531d6777056c6539492035d9dbb",
            "gt": "7c6e98508664d093b487e6ed90981c15d038f7c6e53f96d4bc88baf1f2150931",
        },
        data="MagnaTagATune test split of Won et al. 2020 (4,332 clips), real audio, 50 tags",
        source="third-party predictions of Won et al.'s published Musicnn weights on their MTAT "
        "test split (philtgun/music-tagging-benchmark, commit e8f5b2e6, "
        "results/test-mtat-train-mtat-musicnn)",
        citation="M. Won, A. Ferraro, D. Bogdanov and X. Serra, 'Evaluation of CNN-based "
        "automatic music tagging models', SMC 2020",
        licence="MIT (minzwon/sota-music-tagging-models)",
    )
}
"""Models with real-MTAT predictions; every other model gets no calibrated thresholds."""


@dataclass(frozen=True)
class Predictions:
    """Clip-level predictions with what they are: ``data`` must be :data:`REAL_MTAT_TEST`.

    ``y_true`` (N, K) 0/1, ``y_prob`` (N, K), ``clips`` the N clip paths (songs for the folds),
    ``provenance`` what the card records about them (source, citation, files and hashes).
    """

    y_true: np.ndarray
    y_prob: np.ndarray
    tags: tuple[str, ...]
    clips: tuple[str, ...]
    data: str
    provenance: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------- thresholds
def _midpoint_below(cut: float, scores: np.ndarray) -> float:
    """Halfway between ``cut`` and the next lower score (as :func:`tune_thresholds` does): the
    same decisions on the fitting clips, less sensitive to unseen scores near the cut."""
    lower = scores[scores < cut]
    return (cut + float(lower.max())) / 2 if lower.size else cut


def precision_thresholds(
    y_true: np.ndarray, y_prob: np.ndarray, target: float = DEFAULT_TARGET_PRECISION
) -> np.ndarray:
    """Per tag, the lowest threshold whose precision (``prob >= threshold``) reaches ``target``.

    Lowest means most recall at that precision. NaN for a tag where no threshold reaches it (or
    without positives). Returns ``(n_tags,)`` float64.
    """
    y_true, y_prob = _check_arrays(y_true, y_prob)
    out = np.full(y_true.shape[1], np.nan)
    for k in range(y_true.shape[1]):
        t, s = y_true[:, k], y_prob[:, k]
        if t.sum() == 0:
            continue
        precision, _, cuts = precision_recall_curve(t, s)
        reached = np.flatnonzero(precision[:-1] >= target)  # cuts ascending: first = lowest
        if reached.size:
            out[k] = _midpoint_below(float(cuts[reached[0]]), s)
    return out


FITTERS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "f1": tune_thresholds,
    "precision": precision_thresholds,
}


def decide(y_prob: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(N, K) bool decisions ``prob >= threshold``; a NaN threshold decides nothing."""
    thr = np.asarray(thresholds, dtype=np.float64)
    return np.where(np.isnan(thr)[None, :], False, y_prob >= np.nan_to_num(thr, nan=np.inf))


# -------------------------------------------------------------------------------------- folds
def song_of(clip: str) -> str:
    """The song of an MTAT clip path (``f/artist-album-01-track-30-59.mp3`` -> without the
    segment bounds); a path not in that form is its own song."""
    return re.sub(r"-\d+-\d+\.mp3$", "", clip)


def assign_folds(n: int, k: int, seed: int, groups: Sequence[str] | None = None) -> np.ndarray:
    """(n,) fold index 0..k-1: groups (songs) shuffled with ``seed``, dealt out round-robin.

    Without ``groups`` every clip is its own group (plain shuffled folds). Every fold is
    non-empty when there are at least ``k`` groups.
    """
    if k < 2:
        raise ValueError(f"k must be >= 2, got {k}")
    keys = list(range(n)) if groups is None else list(groups)
    if len(keys) != n:
        raise ValueError(f"{len(keys)} groups for {n} clips")
    uniq, inverse = np.unique(np.asarray(keys, dtype=object).astype(str), return_inverse=True)
    if len(uniq) < k:
        raise ValueError(f"{len(uniq)} songs cannot fill {k} folds")
    order = np.random.default_rng(seed).permutation(len(uniq))
    fold_of_group = np.empty(len(uniq), dtype=np.int64)
    fold_of_group[order] = np.arange(len(uniq)) % k
    return fold_of_group[inverse]


def cross_fit(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    folds: np.ndarray,
    fit: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Held-out decisions: fold f is decided with thresholds ``fit`` on the other folds only.

    Returns ``(decisions (N, K) bool, thresholds (n_folds, K))``.
    """
    y_true, y_prob = _check_arrays(y_true, y_prob)
    fold_ids = np.unique(folds)
    decisions = np.zeros(y_true.shape, dtype=bool)
    per_fold = np.empty((len(fold_ids), y_true.shape[1]))
    for i, f in enumerate(fold_ids):
        held = folds == f
        per_fold[i] = fit(y_true[~held], y_prob[~held])
        decisions[held] = decide(y_prob[held], per_fold[i])
    return decisions, per_fold


# ------------------------------------------------------------------------------------ metrics
def _counts(t: np.ndarray, d: np.ndarray) -> dict[str, Any]:
    tp = int(np.sum(d & (t == 1)))
    fp = int(np.sum(d & (t == 0)))
    fn = int(np.sum(~d & (t == 1)))
    positives, decided = tp + fn, tp + fp
    return {
        "positives": positives,
        "decided": decided,
        "precision": tp / decided if decided else None,
        "recall": tp / positives if positives else None,
        "f1": 2 * tp / (2 * tp + fp + fn) if positives else None,
    }


def decision_metrics(
    y_true: np.ndarray, decisions: np.ndarray, tags: Sequence[str]
) -> dict[str, Any]:
    """Precision, recall, F1 of pooled binary decisions: per tag, macro (mean over the tags where
    defined) and micro (all clip-tag decisions pooled).

    :func:`training.evaluate.evaluate` applies one threshold vector to all clips; cross-fitted
    decisions come from a different vector per fold, so they are pooled first and scored here.
    Precision of a tag that decided nothing is undefined (``None``), not 0: the precision
    policy abstains on such tags rather than being wrong; ``macro.tags_deciding`` counts the
    tags that decided at least once.
    """
    t = np.asarray(y_true).astype(np.int64)
    d = np.asarray(decisions, dtype=bool)
    per_tag = {tag: _counts(t[:, j], d[:, j]) for j, tag in enumerate(tags)}
    macro: dict[str, Any] = {
        m: _mean_defined([per_tag[tag][m] for tag in tags]) for m in ("precision", "recall", "f1")
    }
    macro["tags_deciding"] = sum(per_tag[tag]["decided"] > 0 for tag in tags)
    return {"per_tag": per_tag, "macro": macro, "micro": _counts(t.ravel(), d.ravel())}


def _summary(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m[k] for k in ("precision", "recall", "f1") if k in m}


# ---------------------------------------------------------------------------------- calibrate
def calibrate(
    preds: Predictions,
    k_folds: int = 5,
    seed: int = 0,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    command: str | None = None,
) -> dict[str, Any]:
    """The card's threshold block for real-MTAT ``preds`` (schema in the module docstring).

    ``thresholds``: both policies fitted on all clips (``null`` where the precision policy has
    none); ``cross_fitted``: per-tag / macro / micro precision, recall, F1 of held-out decisions
    (K song-grouped folds, ``seed``); ``in_sample``: the same thresholds scored on the clips they
    were fitted on (optimistic, for comparison); ``reference_threshold_0_5``: evaluate() at 0.5.
    Raises :class:`CalibrationRefused` for predictions that are not real MTAT.
    """
    if preds.data != REAL_MTAT_TEST:
        raise CalibrationRefused(
            f"calibrated thresholds are fitted only on real MTAT test predictions; these are "
            f"{preds.data!r} (a synthetic or unknown set says nothing about real music)"
        )
    tags = list(preds.tags)
    y_true, y_prob = _check_arrays(preds.y_true, preds.y_prob)
    if len(tags) != y_true.shape[1]:
        raise ValueError(f"{len(tags)} tags for {y_true.shape[1]} prediction columns")
    fitters = dict(FITTERS)
    fitters["precision"] = lambda t, p: precision_thresholds(t, p, target_precision)
    folds = assign_folds(len(y_true), k_folds, seed, [song_of(c) for c in preds.clips])

    def as_map(values: np.ndarray) -> dict[str, float | None]:
        return {t: None if np.isnan(v) else float(v) for t, v in zip(tags, values, strict=True)}

    thresholds, cross, in_sample, spread = {}, {}, {}, {}
    for policy in POLICIES:
        final = fitters[policy](y_true, y_prob)
        thresholds[policy] = as_map(final)
        decisions, per_fold = cross_fit(y_true, y_prob, folds, fitters[policy])
        cross[policy] = decision_metrics(y_true, decisions, tags)
        own = decision_metrics(y_true, decide(y_prob, final), tags)
        in_sample[policy] = {"macro": own["macro"], "micro": own["micro"]}
        spread[policy] = {
            t: [None if np.isnan(v) else float(v) for v in per_fold[:, j]]
            for j, t in enumerate(tags)
        }
    at_half = evaluate(y_true, y_prob, tags)
    return {
        "thresholds": thresholds,
        "policy_default": "f1",
        "policies": {
            "f1": "per tag, the threshold of maximal F1 (training.evaluate.tune_thresholds)",
            "precision": f"per tag, the lowest threshold with precision >= {target_precision}; "
            "null: no threshold reaches it, the tag is never decided under this policy",
        },
        "target_precision": target_precision,
        "provenance": {
            **preds.provenance,
            "n_clips": int(len(y_true)),
            "n_songs": int(len({song_of(c) for c in preds.clips})),
            "k_folds": k_folds,
            "seed": seed,
            "method": f"{k_folds}-fold cross-fitting, folds shuffled (numpy seed {seed}) and "
            "grouped by song; each fold decided with thresholds fitted on the other folds, "
            "held-out decisions pooled; final thresholds fitted on all clips",
            "command": command,
        },
        "cross_fitted": cross,
        "fold_thresholds": spread,
        "in_sample": in_sample,
        "reference_threshold_0_5": {
            "macro": _summary(at_half["macro"]),
            "micro": _summary(at_half["micro"]),
        },
    }


# ------------------------------------------------------------------------------------- inputs
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_real_mtat(
    model: str, root: Path = WON_ROOT, allow_unpublished: bool = False
) -> Predictions:
    """The published real-MTAT test predictions of ``model`` under ``root``, checked.

    Refuses (:class:`CalibrationRefused`) a model without real-MTAT predictions and files that
    differ from the published ones (sha256), unless ``allow_unpublished`` (a file pair in the
    same format, e.g. a re-run of the third-party evaluation; recorded in the provenance).
    """
    from training.import_pretrained import read_predictions

    if model not in REAL_MTAT:
        raise CalibrationRefused(
            f"{model!r} has no real-MTAT predictions, so it gets no calibrated thresholds "
            f"(models with them: {', '.join(sorted(REAL_MTAT))})"
        )
    spec = REAL_MTAT[model]
    root = Path(root)
    files = {"est": root / spec.est, "gt": root / spec.gt}
    for path in (*files.values(), root / spec.tags):
        if not path.is_file():
            raise FileNotFoundError(f"{model}: {path} is missing")
    hashes = {name: _sha256(path) for name, path in files.items()}
    published = hashes == spec.sha256
    if not published and not allow_unpublished:
        raise CalibrationRefused(
            f"{model}: {files['est']} / {files['gt']} are not the published real-MTAT "
            f"predictions (sha256 {hashes} != {spec.sha256})"
        )
    tags = tuple(
        line.strip() for line in (root / spec.tags).read_text().splitlines() if line.strip()
    )
    est_clips, y_prob = read_predictions(files["est"])
    gt_clips, y_true = read_predictions(files["gt"])
    if est_clips != gt_clips or y_prob.shape != y_true.shape or y_prob.shape[1] != len(tags):
        raise ValueError(f"{model}: estimates and ground truth disagree on clips or tags")
    if not np.all((y_prob >= 0) & (y_prob <= 1)):
        raise ValueError(f"{model}: estimates outside [0, 1]")
    return Predictions(
        y_true=y_true.astype(np.int64),
        y_prob=y_prob,
        tags=tags,
        clips=tuple(est_clips),
        data=REAL_MTAT_TEST,
        provenance={
            "model": model,
            "data": spec.data,
            "source": spec.source,
            "citation": spec.citation,
            "licence": spec.licence,
            "files": {
                n: {"path": spec.est if n == "est" else spec.gt, "sha256": h}
                for n, h in hashes.items()
            },
            "published_files": published,
        },
    )


# -------------------------------------------------------------------------------------- table
def _fmt(v: float | None, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def format_table(result: dict[str, Any]) -> str:
    """Markdown: per tag the threshold and cross-fitted P / R / F1 of both policies, then
    macro and micro (cross-fitted, in-sample) and the threshold-0.5 reference."""
    cross, thr = result["cross_fitted"], result["thresholds"]
    lines = [
        "| tag | positives | F1 policy: threshold | P | R | F1 "
        "| precision policy: threshold | P | R | F1 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def row(name: str, positives: str, t_f1: str, f: dict, t_p: str, p: dict) -> str:
        prf = lambda m: [_fmt(m.get(k)) for k in ("precision", "recall", "f1")]  # noqa: E731
        return "| " + " | ".join([name, positives, t_f1, *prf(f), t_p, *prf(p)]) + " |"

    for tag in thr["f1"]:
        f, p = cross["f1"]["per_tag"][tag], cross["precision"]["per_tag"][tag]
        t_p = thr["precision"][tag]
        lines.append(
            row(
                tag,
                str(f["positives"]),
                _fmt(thr["f1"][tag]),
                f,
                "none" if t_p is None else _fmt(t_p),
                p,
            )
        )
    for avg in ("macro", "micro"):
        lines.append(
            row(f"**{avg}** (cross-fitted)", "", "", cross["f1"][avg], "", cross["precision"][avg])
        )
    for avg in ("macro", "micro"):
        ins = result["in_sample"]
        lines.append(row(f"*{avg}, in-sample*", "", "", ins["f1"][avg], "", ins["precision"][avg]))
    ref = result["reference_threshold_0_5"]
    for avg in ("macro", "micro"):
        lines.append(row(f"*{avg}, threshold 0.5*", "", "0.5", ref[avg], "", {}))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="won_musicnn", help=f"one of {sorted(REAL_MTAT)}")
    parser.add_argument(
        "--root",
        type=Path,
        default=WON_ROOT,
        help="folder holding the model's results/ and mtat/tags.txt",
    )
    parser.add_argument("--k", type=int, default=5, help="cross-fitting folds")
    parser.add_argument("--seed", type=int, default=0, help="fold shuffling seed")
    parser.add_argument("--target-precision", type=float, default=DEFAULT_TARGET_PRECISION)
    parser.add_argument(
        "--allow-unpublished",
        action="store_true",
        help="accept prediction files that differ from the published ones",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the JSON block here")
    parser.add_argument(
        "--card",
        type=Path,
        default=None,
        help="put the thresholds on this model card (models/NAME/card.json) as its calibration",
    )


def run(args: argparse.Namespace) -> int:
    command = "python -m training calibrate " + shlex.join(
        [
            "--model",
            args.model,
            "--k",
            str(args.k),
            "--seed",
            str(args.seed),
            "--target-precision",
            str(args.target_precision),
        ]
    )
    try:
        preds = load_real_mtat(args.model, args.root, args.allow_unpublished)
    except CalibrationRefused as exc:
        raise SystemExit(f"calibrate: {exc}") from None
    result = calibrate(preds, args.k, args.seed, args.target_precision, command=command)
    print(format_table(result))
    if args.out is not None:
        atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
        log.info("wrote %s", args.out)
    if args.card is not None:
        write_calibration(args.card, args.model, result)
        log.info("calibration of %s written to %s", args.model, args.card)
    return 0


def write_calibration(card_path: Path, model: str, result: dict) -> None:
    """Put ``result`` on the card at ``card_path`` as its ``calibration`` (the card must be the
    model's whose predictions were calibrated)."""
    from tagging.card import Calibration, ModelCard

    card = ModelCard.read(card_path)
    if card.name != model:
        raise SystemExit(f"calibrate: {card_path} is the card of {card.name!r}, not {model!r}")
    card.calibration = Calibration.model_validate(result)
    card.write(card_path)
