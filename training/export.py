"""Checkpoint -> ``models/<name>/model.onnx`` + ``card.json`` (command: ``export``).

The graph takes ``waveform`` ``(batch, chunk_samples)`` float32 at 16 kHz with a dynamic batch
axis and returns ``probabilities`` ``(batch, K)`` (the sigmoid is inside the graph) and
``embedding`` ``(batch, D)``, the penultimate features (:mod:`training.embedding`).

Exporter (pinned): the TorchScript-based ``torch.onnx.export(..., dynamo=False)``. With
torch 2.14 it emits the native ONNX ``RNN``/``LSTM``/``GRU`` operators (which onnxruntime's CUDA
execution provider implements with cuDNN) and handles a dynamic batch axis through
``dynamic_axes``; the models are traced at one fixed ``chunk_samples``, so their static-length
branches (padding of short input, chunking) are resolved at export time. The front-ends avoid
the ONNX ``STFT``/``DFT`` operators, which onnxruntime implements on the CPU provider only;
:data:`CPU_ONLY_OPS` are refused in every exported graph.

Every export is checked (:func:`check_export`): ``onnx.checker`` plus onnxruntime vs PyTorch on
audio (chunks of cached clips with ``--cache``, else a deterministic synthetic signal of tones
and noise), at batch size 1 and > 1, within :data:`DEFAULT_TOLERANCE` on the probabilities.
Files are written under temporary names and moved into place with ``os.replace``, the model
before its card, so a reader never sees a half-written file.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import logging
import os
import pickle
import re
import subprocess
import warnings
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from tagging.card import CARD_VERSION, ModelCard, rule_dict
from tagging.clips import ClipRule
from tagging.constants import EVAL_CHUNKS, SAMPLE_RATE
from tagging.evaluations import card_evaluations
from tagging.files import atomic_write_bytes
from training.checkpoints import load_checkpoint_model
from training.embedding import EMBEDDING_NAME, add_embedding_file, card_info, final_linear

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17
DEFAULT_TOLERANCE = 1e-4
"""Maximum absolute difference allowed between onnxruntime and PyTorch probabilities."""
INPUT_NAME = "waveform"
OUTPUT_NAME = "probabilities"
LOGITS_NAME = "logits"
"""Optional second output (``export_onnx(..., logits=True)``): the pre-sigmoid values, which the
parity tests of the ported models compare (``logit(p)`` loses precision for ``p`` near 1)."""
EXPORTER = "torchscript"
"""The pinned exporter: ``torch.onnx.export(..., dynamo=False)``."""
CPU_ONLY_OPS = frozenset(
    {"STFT", "DFT", "MelWeightMatrix", "HannWindow", "HammingWindow", "BlackmanWindow"}
)
"""ONNX ops with no kernel in onnxruntime's CUDA provider (checked against ORT 1.31's
``libonnxruntime_providers_cuda.so`` kernel classes and docs/OperatorKernels.md)."""
CHECK_EXAMPLES = 4
"""Chunks of audio used to check each export (batch 1 and batch 4)."""


class ExportCheckError(AssertionError):
    """An exported graph is invalid or disagrees with PyTorch beyond the tolerance."""


def _torch():
    import torch

    return torch


def graph_op_types(onnx_model: str | Path | bytes) -> set[str]:
    """Operator types used by an ONNX file or serialized model (main graph and any subgraphs)."""
    import onnx

    if isinstance(onnx_model, bytes):
        model = onnx.load_from_string(onnx_model)
    else:
        model = onnx.load(str(onnx_model), load_external_data=False)
    ops: set[str] = set()
    graphs = [model.graph]
    while graphs:
        g = graphs.pop()
        for node in g.node:
            ops.add(node.op_type)
            for attr in node.attribute:
                if attr.g is not None and attr.g.node:
                    graphs.append(attr.g)
                graphs.extend(attr.graphs)
    return ops


def _probability_model(model: Any, logits: bool = False) -> Any:
    """``model`` (logits) wrapped so that the graph outputs sigmoid probabilities (and, with
    ``logits``, the logits as a second output)."""
    torch = _torch()

    class WithSigmoid(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, waveform: torch.Tensor) -> Any:
            z = self.inner(waveform)  # (B, S) -> (B, K)
            return (torch.sigmoid(z), z) if logits else torch.sigmoid(z)

    return WithSigmoid(copy.deepcopy(model).cpu().eval()).eval()


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def export_onnx(
    model: Any,
    chunk_samples: int,
    path: str | Path,
    opset: int = DEFAULT_OPSET,
    logits: bool = False,
) -> Path:
    """Export ``model`` (logits) to ONNX with the sigmoid inside; returns ``path``.

    Input ``waveform`` ``(batch, chunk_samples)`` float32 (dynamic batch), output
    ``probabilities`` ``(batch, K)`` (then ``logits`` ``(batch, K)`` when ``logits`` is set).
    The caller's model is not modified (a CPU copy in eval mode is exported). The file appears
    atomically (temporary file + ``os.replace``).
    """
    torch = _torch()
    if int(chunk_samples) < 1:
        raise ValueError(f"chunk_samples must be positive, got {chunk_samples}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = _probability_model(model, logits=logits)
    outputs = [OUTPUT_NAME, LOGITS_NAME] if logits else [OUTPUT_NAME]
    # Batch 2 at trace time: a batch-1 trace could let the tracer treat the batch as a constant.
    example = torch.randn(2, int(chunk_samples), generator=torch.Generator().manual_seed(0))
    buffer = io.BytesIO()  # the graph is MBs: checked in memory, then written atomically
    with torch.no_grad(), warnings.catch_warnings():
        # Static lengths become constants on purpose (only the batch axis is dynamic).
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*dynamo.*")
        # h0 is built from the input's shape (ConstantOfShape), so the batch stays dynamic;
        # check_export verifies batch sizes 1 and N.
        warnings.filterwarnings("ignore", message=".*with a batch_size other than 1.*")
        torch.onnx.export(
            wrapped,
            (example,),
            buffer,
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=outputs,
            dynamic_axes={INPUT_NAME: {0: "batch"}, **{o: {0: "batch"} for o in outputs}},
            opset_version=int(opset),
            do_constant_folding=True,
        )
    bad = graph_op_types(buffer.getvalue()) & CPU_ONLY_OPS
    if bad:
        raise ExportCheckError(
            f"exported graph uses {sorted(bad)}, which onnxruntime runs on CPU only"
        )
    atomic_write_bytes(path, buffer.getvalue())
    return path


def check_export(
    model: Any,
    onnx_path: str | Path,
    waves: np.ndarray,
    providers: list[str] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    disabled_optimizers: list[str] | None = None,
) -> dict[str, Any]:
    """Validate an export against PyTorch; returns the card's ``export_check`` dict.

    Runs ``onnx.checker.check_model`` (full check), refuses CPU-only operators, then feeds
    ``waves`` ``(N >= 2, chunk_samples)`` through onnxruntime (``providers``, default CPU) at
    batch size 1 and N and compares with ``sigmoid(model(waves))`` in eval mode. Raises
    :class:`ExportCheckError` when the max absolute difference exceeds ``tolerance``.
    """
    import onnx
    import onnxruntime as ort

    torch = _torch()
    waves = np.ascontiguousarray(waves, dtype=np.float32)
    if waves.ndim != 2 or waves.shape[0] < 2:
        raise ValueError(f"waves must be (N >= 2, chunk_samples), got {waves.shape}")
    onnx_path = Path(onnx_path)
    try:
        onnx.checker.check_model(str(onnx_path), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportCheckError(f"onnx.checker rejects {onnx_path}: {exc}") from exc
    ops = graph_op_types(onnx_path)
    if ops & CPU_ONLY_OPS:
        raise ExportCheckError(f"{onnx_path} uses CPU-only operators {sorted(ops & CPU_ONLY_OPS)}")

    session = ort.InferenceSession(
        str(onnx_path),
        providers=list(providers or ["CPUExecutionProvider"]),
        disabled_optimizers=disabled_optimizers or None,  # as the card tells the service
    )
    inputs, outputs = session.get_inputs(), session.get_outputs()
    output_names = [o.name for o in outputs]
    if [i.name for i in inputs] != [INPUT_NAME] or [
        o for o in output_names if o != EMBEDDING_NAME
    ] not in ([OUTPUT_NAME], [OUTPUT_NAME, LOGITS_NAME]):
        raise ExportCheckError(
            f"graph has inputs {[i.name for i in inputs]} and outputs {[o.name for o in outputs]},"
            f" expected [{INPUT_NAME!r}] and [{OUTPUT_NAME!r}]"
        )
    length = inputs[0].shape[1]
    if isinstance(length, int) and length != waves.shape[1]:
        raise ValueError(f"the graph takes {length} samples per chunk, waves have {waves.shape[1]}")

    reference = _probability_model(model)
    with torch.no_grad():
        expected = reference(torch.from_numpy(waves)).numpy()  # (N, K)
    diffs = []
    batch_sizes = [1, waves.shape[0]]
    for b in batch_sizes:
        got = session.run([OUTPUT_NAME], {INPUT_NAME: waves[:b]})[0]
        if got.shape != expected[:b].shape:
            raise ExportCheckError(
                f"batch {b}: onnxruntime returned {got.shape}, PyTorch {expected[:b].shape}"
            )
        diffs.append(float(np.max(np.abs(got - expected[:b]))))
    max_diff = max(diffs)
    if not max_diff <= tolerance:  # also catches NaN
        raise ExportCheckError(
            f"{onnx_path}: onnxruntime and PyTorch differ by {max_diff:.3g} > {tolerance:g}"
        )
    embedding = {}
    if EMBEDDING_NAME in output_names:
        embedding = {"embedding_max_abs_diff": _check_embedding(model, session, waves, tolerance)}
    return {
        "max_abs_diff": max_diff,
        **embedding,
        "tolerance": float(tolerance),
        "onnx_checker": True,
        "batch_sizes": batch_sizes,
        "providers": session.get_providers(),
        "exporter": EXPORTER,
        "ops": sorted(ops),
    }


def _check_embedding(model: Any, session: Any, waves: np.ndarray, tolerance: float) -> float:
    """Max |onnxruntime ``embedding`` - PyTorch penultimate features| (a forward hook on
    :func:`training.embedding.final_linear`, the same layer by definition) at batch 1 and N;
    :class:`ExportCheckError` beyond ``tolerance``."""
    n_tags = session.get_outputs()[0].shape[1]
    expected = penultimate_features(model, waves, int(n_tags))
    diffs = []
    for b in (1, waves.shape[0]):
        got = session.run([EMBEDDING_NAME], {INPUT_NAME: waves[:b]})[0]
        if got.shape != expected[:b].shape:
            raise ExportCheckError(
                f"batch {b}: embedding {got.shape}, PyTorch's penultimate {expected[:b].shape}"
            )
        diffs.append(float(np.max(np.abs(got - expected[:b]))))
    if not max(diffs) <= tolerance:
        raise ExportCheckError(f"embedding differs from PyTorch's by {max(diffs):.3g}")
    return max(diffs)


def penultimate_features(model: Any, waves: np.ndarray, n_tags: int) -> np.ndarray:
    """``(N, D)``: the input of the model's final classifier (a real forward pre-hook on
    :func:`training.embedding.final_linear`), in eval mode on the CPU."""
    torch = _torch()
    captured: list[np.ndarray] = []
    model = copy.deepcopy(model).cpu().eval()
    handle = final_linear(model, n_tags).register_forward_pre_hook(
        lambda _m, inputs: captured.append(inputs[0].detach().numpy().copy())
    )
    try:
        with torch.no_grad():
            model(torch.from_numpy(np.ascontiguousarray(waves, dtype=np.float32)))
    finally:
        handle.remove()
    if len(captured) != 1 or captured[0].ndim != 2:
        raise ExportCheckError(
            f"the final classifier ran {len(captured)} times or on a non-(batch, D) input"
        )
    return captured[0]


# ------------------------------------------------------------------------------ check audio
def synthetic_check_audio(chunk_samples: int, n: int = CHECK_EXAMPLES, seed: int = 0) -> np.ndarray:
    """Deterministic test signal ``(n, chunk_samples)``: 3 harmonic tones, clicks and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(chunk_samples) / SAMPLE_RATE
    out = np.empty((n, chunk_samples), dtype=np.float32)
    for i in range(n):
        x = np.zeros(chunk_samples)
        for f0 in rng.uniform(80.0, 1000.0, size=3):
            for h in (1, 2, 3):  # harmonics under Nyquist only
                if h * f0 < SAMPLE_RATE / 2:
                    x += np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 2 * np.pi)) / h
        x *= 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.5, 4.0) * t)  # amplitude envelope
        clicks = np.zeros(chunk_samples)
        clicks[:: max(SAMPLE_RATE // 4, 1)] = 1.0  # a 4 Hz pulse (drum-like onsets)
        x += np.convolve(clicks, np.exp(-np.arange(400) / 60.0), mode="same")
        x += 0.05 * rng.standard_normal(chunk_samples)
        out[i] = 0.8 * x / max(np.max(np.abs(x)), 1e-9)
    return out


def cached_check_audio(
    cache_dir: str | Path, chunk_samples: int, n: int = CHECK_EXAMPLES
) -> tuple[np.ndarray, str]:
    """``n`` chunks of real clips from a prepared cache (test split first) and a description."""
    from tagging.audio import chunk_starts, take_chunks
    from training.data.cache import CacheError, ClipCache

    for split in ("test", "valid", "train"):
        try:
            cache = ClipCache.open(cache_dir, split)
        except (CacheError, ValueError, FileNotFoundError, KeyError):
            continue
        if len(cache) == 0:
            continue
        rows, ids = [], []
        for i in range(min(n, len(cache))):
            x = cache.audio(i)
            starts = chunk_starts(len(x), chunk_samples, 3)
            middle = starts[len(starts) // 2 :][:1]  # the middle chunk of the clip
            rows.append(take_chunks(x, middle, chunk_samples)[0])
            ids.append(int(cache.clip_ids[i]))
        if len(rows) < n:  # tiny caches: more chunks of the first clip
            x = cache.audio(0)
            starts = chunk_starts(len(x), chunk_samples, n)
            for j in range(n - len(rows)):
                rows.append(take_chunks(x, starts[j % len(starts) :][:1], chunk_samples)[0])
        return np.stack(rows), f"cache {split} split, clip_ids {ids}"
    raise ValueError(f"no usable split in cache {cache_dir}")


# ------------------------------------------------------------------------------ checkpoints
def _find_flag(obj: Any, depth: int = 0) -> str | None:
    """``synthetic``/``mtat`` if a dict says so (key ``synthetic``/``trained_on``/``source``)."""
    if depth > 4 or not isinstance(obj, dict):
        return None
    if isinstance(obj.get("synthetic"), bool):
        return "synthetic" if obj["synthetic"] else "mtat"
    for key in ("trained_on", "source", "kind"):
        if obj.get(key) in ("synthetic", "mtat"):
            return str(obj[key])
    for value in obj.values():
        found = _find_flag(value, depth + 1)
        if found:
            return found
    return None


def trained_on(ckpt: dict[str, Any], evaluation: dict[str, Any] | None) -> str:
    """``"synthetic"`` if the checkpoint's, evaluation's or cache's dataset info says so.

    Looks for a ``synthetic`` flag (or ``trained_on``/``source``: ``"synthetic"``) in
    ``ckpt["dataset"]``, ``evaluation["dataset"]``, ``ckpt["config"]`` and the ``meta.json``
    of the cache they name, then for the synth marker (:func:`training.data.mtat.dataset_kind`) in
    the MTAT root that cache was prepared from; ``"mtat"`` otherwise.
    """
    from training.data.mtat import dataset_kind

    sources: list[Any] = [
        ckpt.get("dataset"),
        (evaluation or {}).get("dataset"),
        ckpt.get("config"),
    ]
    roots: list[Path] = []
    for info in list(sources):
        cache = info.get("cache") if isinstance(info, dict) else None
        meta_path = Path(cache) / "meta.json" if isinstance(cache, str) else None
        if meta_path is None or not meta_path.is_file():
            continue
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            log.warning("cannot read %s", meta_path)
            continue
        sources.append(meta)
        if isinstance(meta.get("source_root"), str):
            roots.append(Path(meta["source_root"]))
    for info in sources:
        found = _find_flag(info)
        if found:
            return found
    if any(root.is_dir() and dataset_kind(root) == "synthetic" for root in roots):
        return "synthetic"
    return "mtat"


def code_version() -> str:
    """Package version plus the git commit of the source tree when available (``0.1.0+g1a2b3c4``)."""
    import training

    version = str(getattr(training, "__version__", "0"))
    root = Path(training.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{commit}" if commit else version


def _training_info(ckpt: dict[str, Any]) -> dict[str, Any]:
    config = ckpt.get("config") or {}
    history = ckpt.get("history") or []
    return {
        "epochs": config.get("epochs", len(history) or ckpt.get("epoch")),
        "epochs_run": len(history) or ckpt.get("epoch"),
        "best_epoch": ckpt.get("best_epoch", ckpt.get("epoch")),
        "train_seconds": ckpt.get("train_seconds"),
        "metric_name": ckpt.get("metric_name"),
        "metric": ckpt.get("best_metric", ckpt.get("metric")),
        "profile": config.get("profile"),
        "eval_chunks": config.get("eval_chunks"),  # chunks per clip in the run's evaluation
        "world_size": ckpt.get("world_size"),
        "device": ckpt.get("device"),
        "config": config,
    }


def portable_paths(obj: Any) -> Any:
    """``obj`` with every absolute filesystem path string replaced by its last component.

    Cards travel between machines and are served over HTTP: a dataset's ``"cache":
    "/home/me/runs/demo/cache"`` becomes ``"cache"``, the folder's name relative to its run (its
    data root). Nested dicts and lists are rewritten; other values are kept as they are, and so
    is an ``embedding`` block: its graph tensor names (``/inner/Relu_output_0``) are no paths.
    """
    if isinstance(obj, dict):
        return {k: v if k == "embedding" else portable_paths(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [portable_paths(v) for v in obj]
    if (
        isinstance(obj, str)
        and len(obj) > 1
        and (obj.startswith(("/", "~")) or _WINDOWS.match(obj))
    ):
        return PurePath(obj.replace("\\", "/")).name or obj
    return obj


_WINDOWS = re.compile(r"^[A-Za-z]:[\\/]")


def export_run(
    run_dir: str | Path,
    out_dir: str | Path,
    cache_dir: str | Path | None = None,
    opset: int = DEFAULT_OPSET,
    tolerance: float = DEFAULT_TOLERANCE,
    providers: list[str] | None = None,
) -> ModelCard:
    """Export ``run_dir/best.pt`` to ``out_dir/<name>/model.onnx`` + ``card.json``; returns the card.

    ``<name>`` is the run directory's name. The model is checked before it is moved into place;
    on a failed check nothing is written and :class:`ExportCheckError` is raised.
    """
    run_dir = Path(run_dir)
    name = run_dir.name
    model, ckpt = load_checkpoint_model(run_dir / "best.pt")
    chunk_samples = int(ckpt["chunk_samples"])

    evaluation = None
    eval_path = run_dir / "evaluation.json"
    if eval_path.is_file():
        evaluation = json.loads(eval_path.read_text())
    else:
        log.warning("%s: no %s; the card's evaluation is null", name, eval_path)

    if cache_dir is not None:
        waves, audio = cached_check_audio(cache_dir, chunk_samples)
    else:
        waves, audio = synthetic_check_audio(chunk_samples), "synthetic tones+clicks+noise (seed 0)"

    target = Path(out_dir) / name
    target.mkdir(parents=True, exist_ok=True)
    staged = _tmp_path(target / "model.onnx").with_suffix(".onnx")
    try:
        export_onnx(model, chunk_samples, staged, opset=opset)
        layer = add_embedding_file(staged)  # + output "embedding": training.embedding
        check = check_export(model, staged, waves, providers=providers, tolerance=tolerance)
        check["audio"] = audio
        card = export_card(name, model, ckpt, chunk_samples, opset, check, evaluation)
        card.embedding = card_info(layer)
        os.replace(staged, target / "model.onnx")  # the model first, then its card
        card.write(target / "card.json")
    finally:
        staged.unlink(missing_ok=True)
    return card


def export_card(
    name: str,
    model: Any,
    ckpt: dict[str, Any],
    chunk_samples: int,
    opset: int,
    check: dict[str, Any],
    evaluation: dict[str, Any] | None,
) -> ModelCard:
    """The card of an exported checkpoint: 16 evenly spaced chunks per clip (training's
    evaluation), the run's ``evaluation.json`` and its entry, paths made portable."""
    from training.models import count_parameters

    on = trained_on(ckpt, evaluation)
    rule = ClipRule.evenly_spaced(chunk_samples, EVAL_CHUNKS)  # Won et al. 2020's 16 chunks
    card = {
        "card_version": CARD_VERSION,
        "name": name,
        "architecture": ckpt["model_name"],
        "model_config": dict(ckpt["model_config"]),
        "tags": list(ckpt["tags"]),
        "sample_rate": SAMPLE_RATE,
        "chunk_samples": chunk_samples,
        "clip_rule": rule_dict(rule),
        "parameters": count_parameters(model),
        "opset": int(opset),
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "trained_on": on,
        "dataset": (evaluation or {}).get("dataset") or ckpt.get("dataset") or {},
        "training": _training_info(ckpt),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "export_check": check,
        "evaluation": evaluation,
        "evaluations": card_evaluations({"evaluation": evaluation, "trained_on": on}),
    }
    return ModelCard.model_validate(portable_paths(card))


# ------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoints", required=True, type=Path, help="directory of <name>/best.pt run dirs"
    )
    parser.add_argument("--out", required=True, type=Path, help="output models directory")
    parser.add_argument(
        "--cache", type=Path, default=None, help="prepared cache whose clips check the exports"
    )
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    parser.add_argument(
        "--models", nargs="*", default=None, help="only these run names (default: all)"
    )
    parser.add_argument(
        "--providers",
        default="CPUExecutionProvider",
        help="comma-separated onnxruntime providers for the check (e.g. "
        "CUDAExecutionProvider,CPUExecutionProvider)",
    )


def run(args: argparse.Namespace) -> int:
    root = Path(args.checkpoints)
    if not root.is_dir():
        raise SystemExit(f"export: {root} is not a directory")
    runs = sorted(d for d in root.iterdir() if (d / "best.pt").is_file())
    if args.models:
        unknown = sorted(set(args.models) - {d.name for d in runs})
        if unknown:
            raise SystemExit(f"export: no best.pt for {unknown} under {root}")
        runs = [d for d in runs if d.name in args.models]
    if not runs:
        raise SystemExit(f"export: no <name>/best.pt under {root}")
    rows, failed = [], []
    for run_dir in runs:
        try:
            card = export_run(
                run_dir,
                args.out,
                cache_dir=args.cache,
                opset=args.opset,
                tolerance=args.tolerance,
                providers=[p for p in args.providers.split(",") if p],
            )
        except (
            ExportCheckError,
            ValueError,
            KeyError,
            RuntimeError,
            OSError,
            EOFError,
            pickle.UnpicklingError,
        ) as exc:
            log.error("%s: export failed: %s", run_dir.name, exc)
            failed.append(run_dir.name)
            continue
        auc = card.headline_roc_auc()
        rows.append(
            (
                run_dir.name,
                f"{card.parameters:,}",
                f"{(card.export_check or {})['max_abs_diff']:.2e}",
                "-" if auc is None else f"{auc:.3f}",
                str(Path(args.out) / run_dir.name / "model.onnx"),
            )
        )
    header = ("model", "params", "max|onnx-torch|", "test ROC-AUC", "file")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0
