"""The ports' front-end as onnxruntime's ``STFT`` operator against today's convolution
(benchmark, not a test): ``python -m benchmarks.frontend_stft [--models ...] [--rounds 7]``.

Issue 19, point 3 asks whether the mel front-end would run faster as ORT's STFT/DFT operators.
The four ports compute their power mel spectrogram as a ``Conv1d`` whose 514 fixed kernels are
the Hann-windowed DFT basis of a 512-point frame, stride 256 (``training.models.frontend``:
onnxruntime's CUDA provider has no STFT kernel), then real² + imaginary² and a ``MatMul`` with
the mel bank. Per model this builds two graphs from the shipped ``model.onnx``:

* **conv**: the shipped front-end, cut out of the model (``onnx.utils.Extractor``) from the
  ``waveform`` input to the mel ``MatMul``'s output ``(B, n_mels, frames)``;
* **stft**: the same graph with the convolution, slices and power replaced by
  ``STFT(frame_step=256, window, frame_length=512, onesided=1)`` -> ``(B, frames, 257, 2)``,
  squared and summed over the last axis, transposed to ``(B, 257, frames)``; the window is the
  convolution's first kernel (the DFT basis at bin 0 is the window itself).

Both run one chunk per run on one thread (the service's CPU layout), alternating, ``--runs``
runs per side per round; printed: ms per chunk (median over rounds), the ratio conv / stft, the
max relative difference of the mel power, and the front-end's share of the whole model's time
per chunk (the shipped session, same layout).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from onnx.utils import Extractor

from app.config import DEFAULT_MODELS_DIR
from benchmarks.results import alternating, finish, ratios

PORTS = ("won_musicnn", "won_fcn", "pons_musicnn", "pons_vgg")
STFT_CONV = "/inner/frontend/mel/Conv"
MEL_MATMUL = "/inner/frontend/mel/MatMul"


def _node(graph: onnx.GraphProto, name: str) -> onnx.NodeProto:
    return next(n for n in graph.node if n.name == name)


def _constant(model: onnx.ModelProto, name: str) -> np.ndarray:
    for n in model.graph.node:
        if n.op_type == "Constant" and n.output[0] == name:
            return numpy_helper.to_array(n.attribute[0].t)
    return numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == name))


def frontends(path: Path) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """``(conv, stft)``: the shipped front-end and its STFT-operator twin (same input/output)."""
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))  # value_info: for Extractor
    conv_node, mel = _node(model.graph, STFT_CONV), _node(model.graph, MEL_MATMUL)
    conv = Extractor(model).extract_model([model.graph.input[0].name], [mel.output[0]])
    basis = _constant(model, conv_node.input[1])  # (2 * bins, 1, n_fft): real rows, then imag
    n_fft = basis.shape[-1]
    hop = next(a.ints[0] for a in conv_node.attribute if a.name == "strides")
    window = basis[0, 0].astype(np.float32)  # bin 0's real kernel: the window
    keep = []  # the extracted graph up to the convolution's input, then the STFT in its place
    for n in conv.graph.node:
        if n.name == STFT_CONV:
            break
        keep.append(n)
    mel_bank = mel.input[0]  # (n_mels, bins) constant, left operand of the MatMul
    x = conv_node.input[0]  # (B, 1, n): the reflect-padded waveform
    nodes = keep + [
        helper.make_node("Transpose", [x], ["sig"], perm=[0, 2, 1]),  # (B, n, 1)
        helper.make_node("STFT", ["sig", "step", "win", "len"], ["spec"], onesided=1),
        helper.make_node("Mul", ["spec", "spec"], ["sq"]),  # (B, frames, bins, 2)
        helper.make_node("ReduceSum", ["sq", "last"], ["pow"], keepdims=0),
        helper.make_node("Transpose", ["pow"], ["powT"], perm=[0, 2, 1]),  # (B, bins, frames)
        helper.make_node("MatMul", [mel_bank, "powT"], [mel.output[0]]),
    ]
    consts = [
        numpy_helper.from_array(np.array(hop, dtype=np.int64), "step"),
        numpy_helper.from_array(window, "win"),
        numpy_helper.from_array(np.array(n_fft, dtype=np.int64), "len"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "last"),
    ]
    if not any(n.output[0] == mel_bank for n in keep):  # the mel bank is an initializer
        consts.append(numpy_helper.from_array(_constant(model, mel_bank), mel_bank))
    used = {i for n in nodes for i in n.input}
    nodes = [n for n in nodes if n.op_type != "Constant" or n.output[0] in used]  # the basis
    inits = [i for i in list(conv.graph.initializer) + consts if i.name in used]
    graph = helper.make_graph(
        nodes, "frontend_stft", list(conv.graph.input), list(conv.graph.output), inits
    )
    stft = helper.make_model(graph, opset_imports=list(conv.opset_import))
    stft.ir_version = conv.ir_version
    onnx.checker.check_model(stft)
    return conv, stft


def session(model: onnx.ModelProto | Path, disabled: list[str] | None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    source = str(model) if isinstance(model, Path) else model.SerializeToString()
    return ort.InferenceSession(
        source, options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled
    )


def per_chunk_ms(sess: ort.InferenceSession, x: np.ndarray, runs: int) -> float:
    feed = {sess.get_inputs()[0].name: x}
    t0 = time.perf_counter()
    for _ in range(runs):
        sess.run(None, feed)
    return 1000 * (time.perf_counter() - t0) / runs


def bench(name: str, models_dir: Path, rounds: int, runs: int) -> dict:
    card = json.loads((models_dir / name / "card.json").read_text())
    disabled = card.get("ort_disabled_optimizers") or None
    conv, stft = frontends(models_dir / name / "model.onnx")
    sides = {
        "conv": session(conv, None),
        "stft": session(stft, None),
        "model": session(models_dir / name / "model.onnx", disabled),
    }
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((1, card["chunk_samples"]))).astype(np.float32)
    ref, alt = (sides[k].run(None, {"waveform": x})[0] for k in ("conv", "stft"))
    rel = float(np.max(np.abs(ref - alt)) / np.max(np.abs(ref)))
    for s in sides.values():
        per_chunk_ms(s, x, 3)  # warm-up
    times = alternating(
        lambda k: per_chunk_ms(sides[k], x, runs if k != "model" else max(runs // 10, 3)),
        list(sides),
        rounds,
    )
    conv_over_stft, low, high = ratios(times["conv"], times["stft"])
    med = {k: statistics.median(v) for k, v in times.items()}
    out = {
        "conv_ms": med["conv"],
        "stft_ms": med["stft"],
        "conv_over_stft": conv_over_stft,
        "conv_over_stft_range": [low, high],
        "model_ms": med["model"],
        "frontend_share": med["conv"] / med["model"],
        "max_rel_diff": rel,
    }
    print(
        f"{name:13s} conv {med['conv']:.3f} ms, stft {med['stft']:.3f} ms per chunk: "
        f"conv/stft {out['conv_over_stft']:.2f}x ({low:.2f}-{high:.2f}); "
        f"model {med['model']:.1f} ms, front-end share {out['frontend_share']:.1%}; "
        f"max rel diff {rel:.1e}",
        flush=True,
    )
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m benchmarks.frontend_stft", description=__doc__)
    p.add_argument("--models", default=",".join(PORTS))
    p.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--runs", type=int, default=100, help="front-end runs per side per round")
    p.add_argument("--json-out", type=Path, default=None)
    args = p.parse_args(argv)
    result = {"load_avg_before": os.getloadavg(), "onnxruntime": ort.__version__, "models": {}}
    names = [m for m in args.models.split(",") if m]
    missing = [m for m in names if not (args.models_dir / m / "model.onnx").is_file()]
    if missing:
        p.error(f"no model {', '.join(missing)} in {args.models_dir} (ports: {', '.join(PORTS)})")
    for name in names:
        result["models"][name] = bench(name, args.models_dir, args.rounds, args.runs)
    return finish(result, args.json_out)


if __name__ == "__main__":
    main()
