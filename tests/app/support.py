"""Builders shared by the service tests (tests/app): real ONNX models, cards, audio.

Plain helpers, imported by the test modules; the fixtures built on them are in conftest.py.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import numpy as np
import onnx
import soundfile as sf
from onnx import TensorProto, helper, numpy_helper

from tagging.audio import encode_mp3
from tagging.card import CARD_VERSION, rule_dict
from tagging.clips import ClipRule
from tagging.constants import EVAL_CHUNKS, SAMPLE_RATE, TOP10_TAGS
from tagging.evaluations import card_evaluations
from training.constants import mtat_tag_columns
from training.embedding import add_embedding, card_info

TAGS50: tuple[str, ...] = (
    TOP10_TAGS + tuple(t for t in mtat_tag_columns() if t not in TOP10_TAGS)[:40]
)
"""50 MTAT tags, the project's ten first (as the ported top-50 models): for 50-output test models."""

METRIC_KEYS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "precision_tuned",
    "recall_tuned",
    "f1_tuned",
    "accuracy_tuned",
)


def feature_model(chunk_samples: int, n_tags: int = 10, seed: int = 0) -> onnx.ModelProto:
    """A small deterministic tagger graph: (batch, L) -> (batch, K) probabilities.

    Features per chunk: mean |x|, mean x^2 and mean |x[t+1] - x[t]| (loudness, energy and a
    crude brightness); a linear layer and a sigmoid map them to K probabilities, so different
    audio (and different chunks) give different outputs.
    """
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 8.0, size=(3, n_tags)).astype(np.float32)
    bias = rng.normal(0.0, 0.5, size=(n_tags,)).astype(np.float32)
    inits = [
        numpy_helper.from_array(weights, "w"),
        numpy_helper.from_array(bias, "b"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([chunk_samples], dtype=np.int64), "end"),
        numpy_helper.from_array(np.array([chunk_samples - 1], dtype=np.int64), "end_1"),
    ]
    nodes = [
        helper.make_node("Abs", ["waveform"], ["abs"]),
        helper.make_node("ReduceMean", ["abs", "axis1"], ["f_abs"], keepdims=1),
        helper.make_node("Mul", ["waveform", "waveform"], ["sq"]),
        helper.make_node("ReduceMean", ["sq", "axis1"], ["f_sq"], keepdims=1),
        helper.make_node("Slice", ["waveform", "one", "end", "axis1"], ["x_next"]),
        helper.make_node("Slice", ["waveform", "zero", "end_1", "axis1"], ["x_prev"]),
        helper.make_node("Sub", ["x_next", "x_prev"], ["diff"]),
        helper.make_node("Abs", ["diff"], ["abs_diff"]),
        helper.make_node("ReduceMean", ["abs_diff", "axis1"], ["f_diff"], keepdims=1),
        helper.make_node("Concat", ["f_abs", "f_sq", "f_diff"], ["features"], axis=1),
        helper.make_node("MatMul", ["features", "w"], ["z"]),
        helper.make_node("Add", ["z", "b"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
    ]
    graph = helper.make_graph(
        nodes,
        "feature_tagger",
        [helper.make_tensor_value_info("waveform", TensorProto.FLOAT, ["batch", chunk_samples])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", n_tags])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def evaluation_block(tags: list[str], macro_roc: float, seed: int = 0) -> dict:
    """An ``evaluation.json`` in the contract's schema (training.evaluate.evaluate output)."""
    rng = np.random.default_rng(seed)
    per_tag = {}
    for tag in tags:
        metrics = {k: round(float(rng.uniform(0.3, 0.9)), 4) for k in METRIC_KEYS}
        metrics.update(
            positives=int(rng.integers(5, 50)),
            roc_auc=round(float(np.clip(macro_roc + rng.normal(0, 0.03), 0, 1)), 4),
            pr_auc=round(float(rng.uniform(0.3, 0.8)), 4),
            threshold=0.4,
        )
        per_tag[tag] = metrics
    macro = {k: float(np.mean([m[k] for m in per_tag.values()])) for k in METRIC_KEYS}
    macro.update(roc_auc=macro_roc, pr_auc=float(np.mean([m["pr_auc"] for m in per_tag.values()])))
    return {
        "split": "test",
        "thresholds_from": "valid",
        "dataset": {"name": "synthetic", "n_clips": 64},
        "results": {
            "n_clips": 64,
            "tags": tags,
            "per_tag": per_tag,
            "macro": macro,
            "micro": {
                k: 0.7 for k in ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1")
            },
            "baseline_all_negative": {"accuracy": 0.9, "precision": 0.0, "recall": 0.0, "f1": 0.0},
        },
    }


def write_model(
    models_dir: Path,
    name: str,
    chunk_samples: int,
    macro_roc: float | None,
    seed: int = 0,
    tags: tuple[str, ...] = TOP10_TAGS,
    embedding: bool = False,
    **card_fields: object,
) -> Path:
    """``models_dir/name/{model.onnx, card.json}`` as the exporter writes them (a current-version
    card); ``card_fields`` add or replace card fields (``clip_rule``, ``pad``, ``evaluations``...;
    ``card_version=None`` leaves the version out: a legacy card). Written as given, unvalidated,
    so tests can write broken cards too. ``embedding``: the graph gets output ``embedding``
    (the 3 features, by :func:`training.embedding.add_embedding`) and the card its field."""
    folder = models_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    graph = feature_model(chunk_samples, len(tags), seed)
    if embedding:
        graph, layer = add_embedding(graph)
        card_fields = {"embedding": card_info(layer).model_dump(), **card_fields}
    onnx.save(graph, folder / "model.onnx")
    evaluation = None if macro_roc is None else evaluation_block(list(tags), macro_roc, seed)
    card = {
        "card_version": CARD_VERSION,
        "name": name,
        "architecture": "feature_linear",
        "model_config": {"width": 1.0},
        "tags": list(tags),
        "sample_rate": SAMPLE_RATE,
        "chunk_samples": chunk_samples,
        "clip_rule": rule_dict(ClipRule.evenly_spaced(chunk_samples, EVAL_CHUNKS)),
        "parameters": 3 * len(tags) + len(tags),
        "opset": 18,
        "input_name": "waveform",
        "output_name": "probabilities",
        "trained_on": "synthetic",
        "dataset": {"name": "synthetic", "clips": 64},
        "training": {"epochs": 1, "best_epoch": 1, "train_seconds": 0.1},
        "created": "2026-11-25T00:00:00Z",
        "code_version": "test",
        "export_check": {"max_abs_diff": 0.0, "tolerance": 1e-4, "onnx_checker": True},
        "evaluation": evaluation,
        "evaluations": card_evaluations({"evaluation": evaluation, "trained_on": "synthetic"}),
        **card_fields,
    }
    card = {k: v for k, v in card.items() if not (k == "card_version" and v is None)}
    (folder / "card.json").write_text(json.dumps(card, indent=1))
    return folder


def make_legacy(folder: Path) -> None:
    """Turn a card written by :func:`write_model` into an unversioned (version 0) card: the
    ``evaluation`` block without an ``evaluations`` list, ``eval_chunks`` without a clip rule."""
    path = folder / "card.json"
    card = json.loads(path.read_text())
    for key in ("card_version", "evaluations", "clip_rule"):
        card.pop(key, None)
    card["eval_chunks"] = EVAL_CHUNKS
    path.write_text(json.dumps(card, indent=1))


def make_models_dir(root: Path) -> Path:
    """Three models: ``beta`` (best macro ROC-AUC, 1.5 s chunks), ``alpha``, ``gamma`` (no eval);
    ``alpha`` and ``beta`` have an embedding (3 features), ``gamma`` none."""
    write_model(root, "alpha", 16_000, 0.80, seed=1, embedding=True)
    write_model(root, "beta", 24_000, 0.90, seed=2, embedding=True)
    write_model(root, "gamma", 8_000, None, seed=3)
    return root


def server_env(models_dir: Path, **settings: str) -> dict[str, str]:
    """``TAGGER_*`` variables for a test server (benchmarks.flood.served): the models, one intra-op
    thread, and ``settings`` (``TAGGER_PROVIDERS`` defaults to auto)."""
    env = {"TAGGER_PROVIDERS": "auto", "TAGGER_INTRA_OP_THREADS": "1"}
    return {**env, "TAGGER_MODELS_DIR": str(models_dir), **settings}


def tone(seconds: float, sr: int = SAMPLE_RATE, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A test signal whose loudness and brightness change over time: (n,) or (n, channels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    freq = 220.0 + 660.0 * (t / max(seconds, 1e-9))  # a rising sweep
    env = 0.2 + 0.15 * np.sin(2 * np.pi * 0.3 * t)
    x = env * np.sin(2 * np.pi * np.cumsum(freq) / sr) + 0.02 * rng.normal(size=t.shape)
    x = x.astype(np.float32)
    if channels == 1:
        return x
    return np.stack([x * (1.0 - 0.3 * c) for c in range(channels)], axis=1)


def audio_bytes(x: np.ndarray, sr: int, fmt: str, subtype: str | None = None) -> bytes:
    """Encode with libsndfile: fmt in WAV, FLAC, OGG, MP3."""
    buf = io.BytesIO()
    if fmt == "MP3":
        encode_mp3(x, buf, sr)
    else:
        sf.write(buf, x, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


@asynccontextmanager
async def lifespan_client(app) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on ``app`` in-process (ASGI, bodies streamed as sent), lifespan run."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client
