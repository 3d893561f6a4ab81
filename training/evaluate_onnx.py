"""Evaluate exported models (``model.onnx`` + card) on clips, through onnxruntime and evaluate().

The path is the service's: each clip becomes chunks by the card's clip rule (the ported models'
:class:`tagging.clips.ClipRule`, else 16 evenly spaced chunks, zero-padded), onnxruntime
returns chunk probabilities, their mean is the clip's; :func:`tagging.evaluations.measured`
(hence :func:`training.evaluate.evaluate`) scores them over the tags model and data share.

Two kinds of data: a prepared cache (the synthetic MTAT: thresholds tuned on ``valid``, scored on
``test``) and a folder of recordings with weak labels (``labels.tsv``: file, comma-separated tags
among the ten; thresholds 0.5). Command ``evaluate-models`` adds such entries to cards in place.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tagging.audio import chunk_starts, decode, take_chunks
from tagging.clips import ClipRule
from tagging.constants import EVAL_CHUNKS, TOP10_TAGS
from tagging.evaluations import card_evaluations
from tagging.files import atomic_write_text
from training.measure import measured

log = logging.getLogger(__name__)

Waves = Callable[[], Sequence[np.ndarray]]


class OnnxModel:
    """An exported model and its card: clip waveform (16 kHz mono) -> clip probabilities (K,)."""

    def __init__(self, folder: str | Path, providers: list[str] | None = None) -> None:
        import onnxruntime as ort

        folder = Path(folder)
        self.card: dict[str, Any] = json.loads((folder / "card.json").read_text())
        options = ort.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # shared CPUs
        self.session = ort.InferenceSession(
            str(folder / "model.onnx"),
            sess_options=options,
            providers=providers or ["CPUExecutionProvider"],
            disabled_optimizers=self.card.get("ort_disabled_optimizers") or None,
        )
        rule = self.card.get("clip_rule")
        self.rule = ClipRule(**rule) if rule else None
        self.tags: list[str] = list(self.card["tags"])

    def chunks(self, wave: np.ndarray) -> np.ndarray:
        """``(N, chunk_samples)``: the card's clip rule, else evenly spaced zero-padded chunks."""
        if self.rule is not None:
            return self.rule.chunks(wave)
        length = int(self.card["chunk_samples"])
        n = int(self.card.get("eval_chunks") or EVAL_CHUNKS)
        return take_chunks(wave, chunk_starts(len(wave), length, n), length)

    def __call__(self, wave: np.ndarray, max_batch: int = 16) -> np.ndarray:
        chunks = self.chunks(wave)
        name_in = self.card.get("input_name", "waveform")
        name_out = self.card.get("output_name", "probabilities")
        outs = [
            self.session.run([name_out], {name_in: chunks[i : i + max_batch]})[0]
            for i in range(0, len(chunks), max_batch)
        ]
        return np.concatenate(outs).mean(axis=0)

    def columns(self, tags: Sequence[str]) -> list[int]:
        """The model's output column of each of ``tags`` (all must be among its tags)."""
        return [self.tags.index(t) for t in tags]


def predict(model: OnnxModel, waves: Sequence[np.ndarray], tags: Sequence[str]) -> np.ndarray:
    """``(N, len(tags))`` clip probabilities of ``tags``."""
    from tqdm import tqdm

    cols = model.columns(tags)
    rows = [model(w)[cols] for w in tqdm(waves, desc=model.card.get("name", "model"), leave=False)]
    return np.stack(rows).astype(np.float64)


# ---------------------------------------------------------------------------------- the data
def cache_split(cache_dir: str | Path, split: str) -> tuple[list[np.ndarray], np.ndarray, list]:
    """``(waves, labels (N, K), tags)`` of a prepared cache split (16 kHz float32 audio)."""
    from training.data.cache import ClipCache

    cache = ClipCache.open(cache_dir, split)
    waves = [cache.audio(i) for i in range(len(cache))]
    return waves, np.asarray(cache.labels, dtype=np.int64), list(cache.tags)


def read_labels(folder: str | Path) -> list[tuple[str, list[str]]]:
    """``labels.tsv`` of a recordings folder: ``(file, tags)`` rows (tags among the ten)."""
    rows = []
    with open(Path(folder) / "labels.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            tags = [t.strip() for t in (row.get("tags") or "").split(",") if t.strip()]
            unknown = sorted(set(tags) - set(TOP10_TAGS))
            if unknown:
                raise ValueError(f"labels.tsv: {row['file']} has tags {unknown} outside the ten")
            rows.append((row["file"], tags))
    return rows


def recordings(folder: str | Path) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """``(waves, labels (N, 10), names)`` of a folder of labelled recordings, decoded at 16 kHz."""
    rows = read_labels(folder)
    waves = [decode(Path(folder) / name) for name, _ in rows]
    labels = np.array([[t in tags for t in TOP10_TAGS] for _, tags in rows], dtype=np.int64)
    return waves, labels, [name for name, _ in rows]


# ------------------------------------------------------------------------------ evaluations
def evaluate_on_cache(
    model: OnnxModel, cache_dir: str | Path, key: str, data: str, split: str = "test"
) -> dict[str, Any]:
    """Entry ``key``: ``split`` of a prepared cache, thresholds tuned on ``valid``."""
    from training.evaluate import tune_thresholds

    v_waves, v_labels, tags = cache_split(cache_dir, "valid")
    tags_here = [t for t in tags if t in model.tags]
    keep = [tags.index(t) for t in tags_here]
    thresholds = tune_thresholds(v_labels[:, keep], predict(model, v_waves, tags_here))
    waves, labels, split_tags = cache_split(cache_dir, split)
    if split_tags != tags:
        raise ValueError(f"valid and {split} disagree on tags: {tags} vs {split_tags}")
    y_prob = predict(model, waves, tags_here)
    return measured(
        key,
        data,
        labels[:, keep],
        y_prob,
        tags_here,
        thresholds,
        split=split,
        thresholds_from="valid",
        method="onnxruntime on the exported model, card's clip rule, training.evaluate.evaluate()",
    )


def evaluate_on_recordings(
    model: OnnxModel, folder: str | Path, key: str, data: str
) -> dict[str, Any]:
    """Entry ``key``: weakly labelled recordings (thresholds 0.5), per-clip top-3 kept."""
    waves, labels, names = recordings(folder)
    tags = [t for t in TOP10_TAGS if t in model.tags]
    cols = [TOP10_TAGS.index(t) for t in tags]
    y_prob = predict(model, waves, tags)
    top3 = {
        name: [tags[j] for j in np.argsort(-p, kind="stable")[:3]]
        for name, p in zip(names, y_prob, strict=True)
    }
    return measured(
        key,
        data,
        labels[:, cols],
        y_prob,
        tags,
        split="all",
        method="onnxruntime on the exported model, card's clip rule, training.evaluate.evaluate() "
        "(weak labels, thresholds 0.5; tags without positives have no AUC)",
        top3_of_the_ten=top3,
    )


def upsert(card: dict[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """``card`` with ``entry`` added to its evaluations (replacing one with the same id)."""
    entries = [e for e in card_evaluations(card) if e.get("id") != entry["id"]]
    return {**card, "evaluations": [*entries, dict(entry)]}


def write_card(folder: Path, card: Mapping[str, Any]) -> None:
    """Write ``card.json`` atomically."""
    atomic_write_text(folder / "card.json", json.dumps(card, indent=2) + "\n")


SYNTHETIC_DATA = "synthetic MTAT (python -m training synth --clips {clips} --seed 0), {split} split"
REAL_DATA = (
    "{n} real recordings (not MTAT) with weak labels among the ten: string orchestra, orchestral "
    "arrangement, jazz, folk/pop, solo trumpet, contrabass note, acoustic and electric guitar, "
    "solo flute (shared data/real, labels.tsv)"
)


def data_entries(
    model: OnnxModel, synthetic_cache: Path | None, real: Path | None, synthetic_clips: int | None
) -> list[dict[str, Any]]:
    """The entries measured here on the given data: synthetic test split, real recordings."""
    entries = []
    if synthetic_cache is not None:
        data = SYNTHETIC_DATA.format(clips=synthetic_clips or "?", split="test")
        entries.append(evaluate_on_cache(model, synthetic_cache, "synthetic_small_test", data))
    if real is not None:
        data = REAL_DATA.format(n=len(read_labels(real)))
        entries.append(evaluate_on_recordings(model, real, "real_recordings", data))
    return entries


def evaluate_folder(
    folder: Path, synthetic_cache: Path | None, real: Path | None, synthetic_clips: int | None
) -> dict[str, Any]:
    """Add the synthetic-test and real-recordings entries to one model folder's card."""
    model = OnnxModel(folder)
    card = model.card
    for entry in data_entries(model, synthetic_cache, real, synthetic_clips):
        card = upsert(card, entry)
    return card


# ---------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", required=True, type=Path, help="models directory")
    parser.add_argument("--names", nargs="*", default=None, help="only these models")
    parser.add_argument(
        "--synthetic-cache", type=Path, default=None, help="prepared synthetic cache"
    )
    parser.add_argument("--synthetic-clips", type=int, default=None, help="clips it was made of")
    parser.add_argument("--real", type=Path, default=None, help="recordings + labels.tsv")


def run(args: argparse.Namespace) -> int:
    names = args.names or sorted(
        p.name for p in args.models.iterdir() if (p / "card.json").is_file()
    )
    for name in names:
        folder = args.models / name
        card = evaluate_folder(folder, args.synthetic_cache, args.real, args.synthetic_clips)
        write_card(folder, card)
        for e in card["evaluations"]:
            macro = e.get("macro_project_tags") or e.get("macro") or {}
            log.info(
                "%s %s: ROC-AUC %s PR-AUC %s",
                name,
                e["id"],
                macro.get("roc_auc"),
                macro.get("pr_auc"),
            )
    return 0
