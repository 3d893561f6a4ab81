"""onnxruntime variants of the ported models, timed alternating (benchmark, not a test):
``python -m benchmarks.ort_variants [--models pons_musicnn,...] [--rounds 5] [--json-out F]``.

Per model, every variant tags the real MTAT clip's chunks (the card's clip rule) as the server
does with two clips in flight on a 2-core machine, and the four parity recordings (tests/data)
for its answers. Variants (``VARIANTS``):

* ``served``: the service's session (``ModelRegistry.session_options``: 1 intra-op thread,
  ORT_ENABLE_ALL, CPU arena, the card's ``ort_disabled_optimizers``), 2 threads each running
  one clip in batches of ``max_batch`` (4) rows.
* ``one_run``: the same session, each thread runs its clip's chunks in one run.
* ``pool2``: one session with a 2-thread intra-op pool (spinning off), clips one after the
  other, each in one run.
* ``extended`` / ``basic``: graph optimisation level ORT_ENABLE_EXTENDED / ORT_ENABLE_BASIC.
* ``nchwc``: ORT_ENABLE_ALL with the NCHWc layout transformer (the card excludes it).
* ``int8_*``: static int8 (``onnxruntime.quantization.quantize_static``) of the Conv, MatMul and
  Gemm nodes outside the front-end (STFT convolution and mel bank stay fp32), the timbral
  filters' DFT stages (``/vertical/``, fp32) and the final
  classifier Gemm (fp32: the ``embedding`` output stays its input), per-channel weights,
  calibrated (MinMax) on real chunks (the five real recordings of tests/data) and synthetic
  ones (``training.data.synth``): QDQ and QOperator formats, U8S8 and S8S8.

Each round runs every variant once (order rotated per round); the figure is the median clips/s
and process CPU per clip; ``vs_served`` is the median of the per-round wall-clock ratios,
``cpu_vs_served`` that of served CPU / variant CPU (> 1: less CPU per clip; the steadier figure
on a shared machine, and what bounds a saturated server's throughput). Answers: clip
probabilities (mean over the clip rule's chunks) on the parity recordings against ``served``:
same top 3 on each, max |Δp|. The rule for keeping a variant (issue 19): faster here (both
ratios > 1) and the same top 3 on every parity recording with max |Δp| <= 0.02.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from app.config import DEFAULT_MODELS_DIR, Settings
from app.registry import ModelRegistry
from benchmarks.results import finish
from benchmarks.serving.clips import MTAT_CLIP, REPO
from tagging.audio import decode
from tagging.constants import TOP10_TAGS

REAL = REPO / "tests" / "data" / "real"
PARITY = {
    "brahms": REAL / "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).ogg",
    "vibe_ace": REAL / "Kevin_MacLeod_-_Vibe_Ace.ogg",
    "trumpet": REAL / "sorohanro_-_solo-trumpet-06.ogg",
    "mtat_joram": MTAT_CLIP,
}
GRAPH = {
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
}
INT8 = {  # name: (QuantFormat, activation type, weight type)
    "int8_qdq_u8s8": ("QDQ", "QUInt8", "QInt8"),
    "int8_qdq_s8s8": ("QDQ", "QInt8", "QInt8"),
    "int8_qop_u8s8": ("QOperator", "QUInt8", "QInt8"),
}
VARIANTS = ("served", "one_run", "pool2", "extended", "basic", "nchwc", *INT8)


def session(path: Path, options: ort.SessionOptions, disabled: list[str]) -> ort.InferenceSession:
    return ort.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled or None
    )


def calibration_chunks(chunk_samples: int, clip_rule, n_synth: int = 16) -> np.ndarray:
    """``(n, L)``: the clip-rule chunks of the five real recordings and of ``n_synth``
    synthetic clips (one chunk each)."""
    from training.data.synth.render import render_clip

    real = [*PARITY.values(), REPO / "tests" / "data" / "jamendo_948_44k_stereo.mp3"]
    rows = [clip_rule.chunks(decode(p)) for p in real]
    for i in range(n_synth):
        tag = TOP10_TAGS[i % len(TOP10_TAGS)]
        wave = render_clip([tag], 0, song=i, segment=0, seconds=10.0)
        rows.append(clip_rule.chunks(np.asarray(wave, dtype=np.float32))[:1])
    return np.concatenate(rows)[:, :chunk_samples]


def classifier(graph, output: str = "probabilities") -> list[str]:
    """The node feeding the Sigmoid of ``output`` (the last Gemm): kept fp32, so the
    ``embedding`` output stays the classifier's input (``training.embedding``)."""
    producers = {o: n for n in graph.node for o in n.output}
    sigmoid = producers.get(output)
    if sigmoid is None or sigmoid.op_type != "Sigmoid" or sigmoid.input[0] not in producers:
        return []
    return [producers[sigmoid.input[0]].name]


def quantize(src: Path, dst: Path, calib: np.ndarray, spec: tuple[str, str, str]) -> None:
    """Static int8 of the Conv/MatMul/Gemm nodes outside ``/frontend/``, ``/vertical/`` and
    the final classifier, per-channel. The DFT stages of the timbral filters
    (:class:`training.models.pretrained.vertical.VerticalMax`) stay fp32: an inverse DFT sums
    terms that cancel, and 8-bit spectra moved ``won_musicnn``'s clip probabilities by 0.15."""
    import onnx
    from onnxruntime import quantization as q

    model = onnx.load(str(src))
    input_name = model.graph.input[0].name
    kept = [n.name for n in model.graph.node if "/frontend/" in n.name or "/vertical/" in n.name]
    kept += classifier(model.graph)

    class Reader(q.CalibrationDataReader):
        def __init__(self) -> None:
            self.rows = iter(calib)

        def get_next(self) -> dict | None:
            row = next(self.rows, None)
            return None if row is None else {input_name: row[None]}

    fmt, act, weight = spec
    q.quantize_static(
        str(src), str(dst), Reader(),
        quant_format=getattr(q.QuantFormat, fmt),
        activation_type=getattr(q.QuantType, act),
        weight_type=getattr(q.QuantType, weight),
        per_channel=True,
        op_types_to_quantize=["Conv", "MatMul", "Gemm"],
        nodes_to_exclude=kept,
        calibrate_method=q.CalibrationMethod.MinMax,
    )  # fmt: skip


def runner(variant: str, sess: ort.InferenceSession, max_batch: int) -> Callable:
    """``run(clips) -> None``: the variant's way of running a list of clips' chunks."""
    name = sess.get_inputs()[0].name

    def one(chunks: np.ndarray, batch: int) -> np.ndarray:
        outs = [
            sess.run(None, {name: chunks[i : i + batch]})[0] for i in range(0, len(chunks), batch)
        ]
        return np.concatenate(outs)

    if variant == "pool2":
        return lambda clips: [one(c, len(c)) for c in clips]
    batch = None if variant == "one_run" else max_batch

    def threaded(clips: list[np.ndarray]) -> None:
        threads = [threading.Thread(target=one, args=(c, batch or len(c))) for c in clips]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return threaded


def build(
    variant: str, registry: ModelRegistry, name: str, work: Path, calib
) -> ort.InferenceSession:
    card = registry.card(name)
    path = registry.settings.models_dir / name / "model.onnx"
    disabled = list(card.ort_disabled_optimizers or [])
    options = registry.session_options(cuda=False)
    if variant == "pool2":
        options.intra_op_num_threads = 2
    if variant in GRAPH:
        options.graph_optimization_level = GRAPH[variant]
    if variant == "nchwc":
        disabled = [d for d in disabled if d != "NchwcTransformer"]
    if variant in INT8:
        dst = work / f"{name}_{variant}.onnx"
        quantize(path, dst, calib(), INT8[variant])
        path = dst
    return session(path, options, disabled)


def clip_probs(sess: ort.InferenceSession, chunks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    name = sess.get_inputs()[0].name
    return {k: sess.run(None, {name: c})[0].mean(axis=0) for k, c in chunks.items()}


def bench_model(args: argparse.Namespace, registry: ModelRegistry, name: str, work: Path) -> dict:
    model = registry.get(name)
    rule = model.clip_rule
    parity = {k: rule.chunks(decode(p)) for k, p in PARITY.items()}
    clip = rule.chunks(decode(MTAT_CLIP))  # (N, L)
    calib_cache: list[np.ndarray] = []

    def calib() -> np.ndarray:
        if not calib_cache:
            calib_cache.append(calibration_chunks(model.chunk_samples, rule))
        return calib_cache[0]

    sessions, answers, notes = {}, {}, {}
    for v in args.variants:
        if v == "nchwc" and "NchwcTransformer" not in (
            registry.card(name).ort_disabled_optimizers or []
        ):
            continue  # the card does not exclude it: "served" is this variant
        try:
            sessions[v] = build(v, registry, name, work, calib)
        except Exception as exc:  # a variant that cannot be built is a result, not a crash
            notes[v] = f"not built: {type(exc).__name__}: {str(exc)[:200]}"
            continue
        answers[v] = clip_probs(sessions[v], parity)
    runs = {v: runner(v, s, model.max_batch) for v, s in sessions.items()}
    for run in runs.values():
        run([clip, clip])  # warm-up
    per_round: list[dict[str, tuple[float, float]]] = []
    order = list(runs)
    for r in range(args.rounds):
        rot = order[r % len(order) :] + order[: r % len(order)]
        figures = {}
        for v in rot:
            t0, c0 = time.perf_counter(), time.process_time()
            runs[v]([clip, clip])
            figures[v] = (2 / (time.perf_counter() - t0), 1000 * (time.process_time() - c0) / 2)
        per_round.append(figures)
    base = answers["served"]
    out = {}
    for v in runs:
        top = {
            k: (list(np.argsort(-base[k])[:3]) == list(np.argsort(-answers[v][k])[:3]))
            for k in base
        }
        dp = max(float(np.abs(base[k] - answers[v][k]).max()) for k in base)
        speed = [f[v][0] for f in per_round]
        ratio = [f[v][0] / f["served"][0] for f in per_round]
        out[v] = {
            "clips_per_s": float(np.median(speed)),
            "cpu_ms_per_clip": float(np.median([f[v][1] for f in per_round])),
            "vs_served": float(np.median(ratio)),
            "vs_served_range": [float(min(ratio)), float(max(ratio))],
            "cpu_vs_served": float(np.median([f["served"][1] / f[v][1] for f in per_round])),
            "same_top3": all(top.values()),
            "max_abs_dp": dp,
            "keep": v != "served"
            and float(np.median(ratio)) > 1
            and all(top.values())
            and dp <= 0.02,
        }
        print(f"{name:14s} {v:15s} {out[v]['clips_per_s']:6.2f} clips/s {out[v]['cpu_ms_per_clip']:6.0f} ms CPU/clip "
              f"{out[v]['vs_served']:.2f}x ({min(ratio):.2f}-{max(ratio):.2f}) CPU "
              f"{out[v]['cpu_vs_served']:.2f}x top3 {out[v]['same_top3']} "
              f"max|dp| {dp:.4f}", flush=True)  # fmt: skip
    for v, note in notes.items():
        print(f"{name:14s} {v:15s} {note}", flush=True)
    return {
        "variants": out,
        "notes": notes,
        "chunks_per_clip": len(clip),
        "load_avg": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ort_variants", description=__doc__)
    p.add_argument("--models", default="pons_musicnn,won_musicnn,won_fcn,pons_vgg")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json-out", type=Path, default=None)
    args = p.parse_args(argv)
    args.variants = [v for v in args.variants.split(",") if v]
    if "served" not in args.variants:
        args.variants.insert(0, "served")
    registry = ModelRegistry(Settings(models_dir=DEFAULT_MODELS_DIR, providers="cpu"))
    result = {"load_avg_before": os.getloadavg(), "cores": os.cpu_count(), "rounds": args.rounds,
              "onnxruntime": ort.__version__, "models": {}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ort-variants-") as tmp:
        for name in [m for m in args.models.split(",") if m]:
            result["models"][name] = bench_model(args, registry, name, Path(tmp))
    return finish(result, args.json_out)


if __name__ == "__main__":
    main()
