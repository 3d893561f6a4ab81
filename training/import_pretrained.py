"""Rebuild the four ported MTAT taggers into ``models/`` (command: ``import-pretrained``).

For each port of :data:`training.models.pretrained.PORTS`: build the network with its published
weights, export it to ONNX with :func:`training.export.export_onnx` and check the export
(:func:`training.export.check_export`: onnx checker, no CPU-only operators, onnxruntime vs
PyTorch), re-run the parity check against the original implementations' recorded outputs
(:mod:`training.models.pretrained.parity`; a failing port stops the command), and
write ``card.json`` with the port's clip rule, source, licence, attribution, citation and its
evaluations (:mod:`tagging.evaluations`), plus the licence text next to the model.

Evaluations baked into the cards (the service never reads the sources):

* ``won_musicnn``: the real MTAT test split (4,332 clips), :func:`training.evaluate.evaluate` on
  the third-party predictions of these weights (``results/mtat_musicnn_test_{est,gt}.csv``);
* ``won_fcn``: per-tag ROC-AUC of the same third party's report (``mtat_fcn_results_report.csv``)
  and its overall figure (``mtat_fcn_evaluation.txt``), taken as published;
* ``pons_*``: the test-set ROC-AUC / PR-AUC that the musicnn package ships with each checkpoint
  (``experiment.result``), taken as published;
* all four: measured here, through the exported model, on a synthetic MTAT test split and on weakly
  labelled real recordings (:mod:`training.evaluate_onnx`), when those are given.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tagging.card import CARD_VERSION, ModelCard, rule_dict
from tagging.constants import SAMPLE_RATE
from tagging.evaluations import from_source
from training.embedding import add_embedding_file, card_info
from training.evaluate_onnx import OnnxModel, data_entries, write_card
from training.export import (
    DEFAULT_OPSET,
    INPUT_NAME,
    OUTPUT_NAME,
    check_export,
    code_version,
    export_onnx,
    synthetic_check_audio,
)
from training.measure import measured

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
WON_ROOT = REPO.parent / "shared" / "pretrained" / "sota-music-tagging-models"
REAL_ROOT = REPO.parent / "shared" / "data" / "real"
WHEEL_CACHE = Path.home() / ".cache" / "mtat-tagger" / "musicnn"

THIRD_PARTY = (
    "third-party evaluation of Won et al.'s published weights on their MTAT test split "
    "(philtgun/music-tagging-benchmark, commit e8f5b2e6, results/test-mtat-train-mtat-*)"
)
MTAT_TEST = "MagnaTagATune test split of Won et al. 2020 ({n} clips), real audio"
MTAT_TRAINING = "MagnaTagATune (Law et al. 2009, CC BY-NC-SA), top-50 tags, the literature's split"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------ published figures
def read_predictions(path: Path) -> tuple[list[str], np.ndarray]:
    """A third-party predictions CSV: rows ``index<TAB>mp3 path,v1,...,v50`` -> (paths, (N, 50))."""
    paths, rows = [], []
    with open(path) as f:
        for line in f:
            head, *values = line.rstrip("\n").rsplit(",", 50)
            paths.append(head.split("\t", 1)[-1])
            rows.append([float(v) for v in values])
    return paths, np.asarray(rows, dtype=np.float64)


def won_musicnn_mtat(won_root: Path, tags: list[str]) -> dict[str, Any]:
    """evaluate() on the third-party test-split predictions of Won's Musicnn (4,332 clips)."""
    results = won_root / "results"
    est_paths, y_prob = read_predictions(results / "mtat_musicnn_test_est.csv")
    gt_paths, y_true = read_predictions(results / "mtat_musicnn_test_gt.csv")
    if est_paths != gt_paths or y_prob.shape != y_true.shape or y_prob.shape[1] != len(tags):
        raise ValueError("estimates and ground truth disagree on clips or tags")
    return measured(
        "mtat_test",
        MTAT_TEST.format(n=len(y_true)),
        y_true.astype(np.int64),
        y_prob,
        tags,
        split="test",
        method="training.evaluate.evaluate() on a third party's predictions of these weights "
        "(thresholds 0.5)",
        predictions_from=THIRD_PARTY,
    )


def won_fcn_report(won_root: Path, tags: list[str]) -> dict[str, Any]:
    """Per-tag ROC-AUC of the third-party report on Won's FCN, and its overall AUC."""
    results = won_root / "results"
    with open(results / "mtat_fcn_results_report.csv", newline="") as f:
        per_tag = {row[""].strip(): {"roc_auc": float(row["AUC"])} for row in csv.DictReader(f)}
    missing = sorted(set(tags) - set(per_tag))
    if missing:
        raise ValueError(f"mtat_fcn_results_report.csv lacks {missing}")
    text = (results / "mtat_fcn_evaluation.txt").read_text()
    overall = re.search(r"Area Under the Curve \(AUC\) is:\s*([0-9.]+)", text)
    if overall is None:
        raise ValueError("mtat_fcn_evaluation.txt has no overall AUC")
    return from_source(
        "mtat_test_report",
        MTAT_TEST.format(n=4332),
        source=f"{THIRD_PARTY}: mtat_fcn_results_report.csv (per-tag AUC, 2 decimals) and "
        "mtat_fcn_evaluation.txt (macro AUC); no PR-AUC published",
        citation="M. Won et al., SMC 2020 (weights); evaluation by the third party above",
        macro={"roc_auc": float(overall.group(1))},
        per_tag={t: per_tag[t] for t in tags},
        split="test",
    )


def pons_published(source: Path, name: str, weights: str, citation: str) -> dict[str, Any]:
    """The test-set figures the musicnn 0.1.0 wheel ships with a checkpoint (experiment.result:
    ``ROC-AUC:``/``PR-AUC:`` lines, or two ``AUC:`` lines, ROC first, for MTT_vgg)."""
    path = source / weights / "experiment.result"
    if not path.is_file():
        raise FileNotFoundError(
            f"{name}: {path} is missing: the musicnn wheel's {weights}/experiment.result holds "
            "the published figures (extract it with the checkpoint)"
        )
    values = [float(v) for v in re.findall(r"AUC:\s*([0-9.]+)", path.read_text())]
    if len(values) != 2:
        raise ValueError(f"{path}: expected ROC-AUC and PR-AUC, found {values}")
    return from_source(
        "mtat_test_published",
        "MagnaTagATune test split of the musicnn training setup (top-50 tags), real audio",
        source=f"musicnn 0.1.0 wheel, musicnn/{weights}/experiment.result (test-set figures "
        "published with the checkpoint; macro over the 50 tags)",
        citation=citation,
        macro={"roc_auc": values[0], "pr_auc": values[1]},
        split="test",
    )


# ------------------------------------------------------------------------------- one port
def run_parity(spec: Any, onnx_path: Path) -> dict[str, Any]:
    """port-nets' parity check of the exported graph against the original's recorded outputs
    (``tests/data/pretrained/<name>.json``): per-patch logits and clip-level probabilities, and
    the ``embedding`` output against the original's penultimate features
    (``<name>_penultimate.json``, when recorded)."""
    from training.models.pretrained.parity import (
        EMBEDDING_TOLERANCE,
        check,
        embedding_diffs,
        embedding_runner,
        load_reference,
        onnx_runner,
    )

    data = REPO / "tests" / "data" / "pretrained"
    reference = load_reference(data / f"{spec.name}.json")
    result = check(spec.name, onnx_runner(onnx_path), spec.clip_rule, reference, REPO)
    if not result.ok:
        raise RuntimeError(f"{spec.name}: parity with the original fails: {result.failures}")
    out = result.as_dict()
    penultimate = data / f"{spec.name}_penultimate.json"
    if penultimate.is_file():
        original = json.loads(penultimate.read_text())
        diffs = embedding_diffs(embedding_runner(onnx_path), spec.clip_rule, reference, original)
        if not max(diffs.values()) <= EMBEDDING_TOLERANCE:
            raise RuntimeError(f"{spec.name}: embedding differs from the original's: {diffs}")
        out["patch_embedding_max_rel_diff"] = diffs
        out["tolerances"]["patch_embedding_rel"] = EMBEDDING_TOLERANCE
    return out


def port_source(spec: Any, won_root: Path, wheel_cache: Path) -> Path:
    """The folder ``spec.build`` reads: the Won root, or the extracted musicnn checkpoints."""
    if spec.name.startswith("won_"):
        return won_root
    from training.models.pretrained.wheel import fetch_musicnn_checkpoints

    return fetch_musicnn_checkpoints(wheel_cache)


def licence_file(spec: Any, source: Path) -> Path:
    return source / ("LICENSE" if spec.name.startswith("won_") else "LICENSE.md")


def headline(spec: Any, source: Path) -> dict[str, Any]:
    """The port's real-MTAT evidence (see the module docstring)."""
    tags = list(spec.tags)
    if spec.name == "won_musicnn":
        return won_musicnn_mtat(source, tags)
    if spec.name == "won_fcn":
        return won_fcn_report(source, tags)
    return pons_published(source, spec.name, spec.weights, spec.citation)


def import_port(
    spec: Any,
    out: Path,
    won_root: Path,
    wheel_cache: Path,
    synthetic_cache: Path | None,
    synthetic_clips: int | None,
    real: Path | None,
) -> ModelCard:
    """Build, export, check and evaluate one port into ``out/<name>``; returns its card."""
    from training.models import count_parameters

    source = port_source(spec, won_root, wheel_cache)
    model = spec.build(source)
    folder = out / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    export_onnx(model, spec.chunk_samples, folder / "model.onnx", logits=True)  # + logits: parity
    layer = add_embedding_file(folder / "model.onnx")  # + embedding: training.embedding
    check = check_export(
        model,
        folder / "model.onnx",
        synthetic_check_audio(spec.chunk_samples),
        disabled_optimizers=list(spec.ort_disabled_optimizers),
    )
    check["audio"] = "synthetic tones+clicks+noise (seed 0)"
    parity = run_parity(spec, folder / "model.onnx")
    shutil.copyfile(licence_file(spec, source), folder / "LICENSE")
    weights = source / spec.weights
    card = ModelCard.model_validate(
        {
            "card_version": CARD_VERSION,
            "name": spec.name,
            "architecture": spec.architecture,
            "tags": list(spec.tags),
            "sample_rate": SAMPLE_RATE,
            "chunk_samples": spec.chunk_samples,
            "clip_rule": rule_dict(spec.clip_rule),
            "pad": f"{spec.pad}: clips shorter than one chunk are tiled (the original fails on them)",
            "parameters": count_parameters(model),
            "opset": DEFAULT_OPSET,
            "input_name": INPUT_NAME,
            "output_name": OUTPUT_NAME,
            "embedding": card_info(layer).model_dump(),
            "ort_disabled_optimizers": list(spec.ort_disabled_optimizers),
            "trained_on": "mtat",
            "dataset": MTAT_TRAINING,
            "source": spec.source,
            "weights_sha256": sha256(weights) if weights.is_file() else None,
            "licence": spec.licence,
            "licence_file": "LICENSE",
            "attribution": spec.attribution,
            "citation": spec.citation,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "code_version": code_version(),
            "export_check": check,
            "parity": parity,
            "evaluations": [headline(spec, source)],
        }
    )
    write_card(folder, card)  # the ONNX path below reads the card
    entries = card.evaluations + data_entries(
        OnnxModel(folder), synthetic_cache, real, synthetic_clips
    )
    card = card.model_copy(update={"evaluations": entries})
    write_card(folder, card)
    return card


# ---------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="models directory")
    parser.add_argument(
        "--won-root",
        type=Path,
        default=WON_ROOT,
        help="sota-music-tagging-models folder: mtat/{fcn,musicnn}/best_model.pth, LICENSE, "
        "results/ (default: ../shared/pretrained/sota-music-tagging-models)",
    )
    parser.add_argument(
        "--musicnn-wheel-cache",
        type=Path,
        default=WHEEL_CACHE,
        help="where the musicnn 0.1.0 wheel's checkpoints are extracted (pip downloads it once)",
    )
    parser.add_argument(
        "--synthetic-cache", type=Path, default=None, help="prepared synthetic MTAT cache"
    )
    parser.add_argument("--synthetic-clips", type=int, default=None, help="clips it was made of")
    parser.add_argument(
        "--real",
        type=Path,
        default=REAL_ROOT,
        help="recordings + labels.tsv (default: ../shared/data/real; '' to skip)",
    )
    parser.add_argument("--models", nargs="*", default=None, help="only these ports")


def run(args: argparse.Namespace) -> int:
    from training.models.pretrained import PORTS, get_port

    names = args.models or list(PORTS)
    real = args.real if args.real and str(args.real) else None
    rows = []
    for name in names:
        spec = get_port(name)
        card = import_port(
            spec,
            args.out,
            args.won_root,
            args.musicnn_wheel_cache,
            args.synthetic_cache,
            args.synthetic_clips,
            real,
        )
        for e in card.evaluations:
            macro = e.get("macro_project_tags") or e["macro"]
            rows.append(
                (name, e["id"], e["measured_by"], macro.get("roc_auc"), macro.get("pr_auc"))
            )
    print("model         evaluation             by       ROC-AUC  PR-AUC  (ten tags where per-tag)")
    for name, key, by, roc, pr in rows:
        fmt = lambda v: "   -  " if v is None else f"{v:.3f}"  # noqa: E731
        print(f"{name:13s} {key:22s} {by:8s} {fmt(roc):>7s}  {fmt(pr):>6s}")
    return 0
