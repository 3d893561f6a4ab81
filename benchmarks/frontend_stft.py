"""The ports' mel front-end in three forms (benchmark, not a test):
``python -m benchmarks.frontend_stft [--models ...] [--rounds 7]``.

Issue 19, point 3 asks whether the mel front-end would run faster as ORT's STFT/DFT operators.
The four ports compute their power mel spectrogram from a Hann-windowed 512-point DFT with hop
256, real² + imaginary², and a ``MatMul`` with the mel bank. Per model, the front-end is cut out
of the shipped ``model.onnx`` (``onnx.utils.Extractor``, from ``waveform`` to the mel bank's
output ``(B, n_mels, frames)``) and its mel module (the nodes under ``/inner/frontend/mel/``) is
put in three forms, with the same window and mel bank (read back from the graph):

* **factored**: the DFT split in two by Cooley & Tukey
  (:mod:`training.models.pretrained.factored`), a grouped ``Conv`` and small ``MatMul`` s: what
  the ports ship since it was measured here;
* **conv**: the DFT as one ``Conv1d`` with 514 fixed kernels of 512 taps
  (:class:`training.models.pretrained.frontends.MelPower`), what they shipped before;
* **stft**: ONNX ``STFT(frame_step=256, window, frame_length=512, onesided=1)`` ->
  ``(B, frames, 257, 2)``, squared and summed, transposed (no CUDA kernel in onnxruntime).

All run one chunk per run on one thread (the service's CPU layout), alternating, ``--runs``
runs per side per round; printed: ms per chunk (median over rounds), the ratios conv / stft and
conv / factored, the max relative difference of each form's mel power from the conv form's, and
the shipped front-end's share of the whole model's time per chunk (same layout).
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
MEL = "/inner/frontend/mel/"
FORMS = ("conv", "factored", "stft")


def _constant(model: onnx.ModelProto, name: str) -> np.ndarray:
    for n in model.graph.node:
        if n.op_type == "Constant" and n.output[0] == name:
            return numpy_helper.to_array(n.attribute[0].t)
    return numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == name))


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def mel_module(model: onnx.ModelProto) -> tuple[str, str, np.ndarray, np.ndarray, int]:
    """``(input, output, window (N,), mel bank (M, N/2 + 1), hop)`` of the mel module, from
    either form it is exported in (one ``Conv`` of 2 x 257 kernels, or the factored one)."""
    nodes = [n for n in model.graph.node if n.name.startswith(MEL)]
    made = {o for n in nodes for o in n.output}
    fixed = {i.name for i in model.graph.initializer}
    fixed |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    (x,) = {i for n in nodes for i in n.input if i and i not in made and i not in fixed}
    conv = next(n for n in nodes if n.op_type == "Conv")
    matmul = [n for n in nodes if n.op_type == "MatMul"][-1]  # the mel bank's
    kernels, bank = _constant(model, conv.input[1]), _constant(model, matmul.input[0])
    attrs = _attrs(conv)
    phases = int(attrs.get("group", 1))
    hop = int(attrs["strides"][0]) * phases
    if phases == 1:  # kernels (2F, 1, N): bin 0's real kernel is the window
        return x, matmul.output[0], kernels[0, 0], bank, hop
    from training.models.pretrained.factored import column_bins  # torch: only here

    q = kernels.shape[-1]  # kernels (P * Q * 2, 1, Q): phase n2, k1 = 0, real at row n2 * 2Q
    window = kernels[:: 2 * q, 0, :].T.reshape(-1)  # w[P n1 + n2]
    n_fft = window.shape[0]
    k = column_bins(n_fft, phases).numpy()  # bank (M, Q * K2): the bin of each column
    cols = k <= n_fft // 2
    mel = np.zeros((bank.shape[0], n_fft // 2 + 1), np.float32)
    mel[:, k[cols]] = bank[:, cols]
    return x, matmul.output[0], window, mel, hop


def _conv_form(x: str, out: str, window: np.ndarray, mel: np.ndarray, hop: int):
    import torch  # the project's DFT basis (training.models.frontend), as MelPower builds it

    from training.models.frontend import dft_kernels

    bins = mel.shape[1]
    basis = dft_kernels(window.shape[0], torch.from_numpy(window.astype(np.float64))).numpy()
    nodes = [
        helper.make_node("Unsqueeze", [x, "one"], ["x1"]),  # (B, 1, S)
        helper.make_node("Conv", ["x1", "basis"], ["spec"], strides=[hop]),  # (B, 2F, T)
        helper.make_node("Split", ["spec", "halves"], ["re", "im"], axis=1),
        helper.make_node("Mul", ["re", "re"], ["re2"]),
        helper.make_node("Mul", ["im", "im"], ["im2"]),
        helper.make_node("Add", ["re2", "im2"], ["pow"]),  # (B, F, T)
        helper.make_node("MatMul", ["mel", "pow"], [out]),
    ]
    consts = {
        "one": np.array([1], np.int64),
        "basis": basis,
        "halves": np.array([bins, bins], np.int64),
        "mel": mel,
    }
    return nodes, consts


def _stft_form(x: str, out: str, window: np.ndarray, mel: np.ndarray, hop: int):
    nodes = [
        helper.make_node("Unsqueeze", [x, "last"], ["sig"]),  # (B, S, 1)
        helper.make_node("STFT", ["sig", "step", "win", "len"], ["spec"], onesided=1),
        helper.make_node("Mul", ["spec", "spec"], ["sq"]),  # (B, frames, bins, 2)
        helper.make_node("ReduceSum", ["sq", "last"], ["pow"], keepdims=0),
        helper.make_node("Transpose", ["pow"], ["powT"], perm=[0, 2, 1]),  # (B, bins, frames)
        helper.make_node("MatMul", ["mel", "powT"], [out]),
    ]
    consts = {
        "step": np.array(hop, np.int64),
        "win": window.astype(np.float32),
        "len": np.array(window.shape[0], np.int64),
        "last": np.array([-1], np.int64),
        "mel": mel,
    }
    return nodes, consts


def frontends(path: Path) -> dict[str, onnx.ModelProto]:
    """``{form: front-end}`` (:data:`FORMS`), each from ``waveform`` to the mel power."""
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))  # value_info: for Extractor
    x, out, window, mel, hop = mel_module(model)
    shipped = Extractor(model).extract_model([model.graph.input[0].name], [out])
    forms = {}
    for form, build in (("conv", _conv_form), ("stft", _stft_form)):
        nodes, consts = build(x, out, window, mel, hop)
        keep = [n for n in shipped.graph.node if not n.name.startswith(MEL)]
        used = {i for n in keep + nodes for i in n.input}
        keep = [n for n in keep if n.op_type != "Constant" or n.output[0] in used]
        inits = [i for i in shipped.graph.initializer if i.name in used]
        inits += [numpy_helper.from_array(v, k) for k, v in consts.items()]
        graph = helper.make_graph(
            keep + nodes,
            f"frontend_{form}",
            list(shipped.graph.input),
            list(shipped.graph.output),
            inits,
        )
        twin = helper.make_model(graph, opset_imports=list(shipped.opset_import))
        twin.ir_version = shipped.ir_version
        onnx.checker.check_model(twin)
        forms[form] = twin
    # the shipped one is factored; a model exported before that has the conv form twice
    forms["factored"] = shipped
    return {form: forms[form] for form in FORMS}


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
    sides = {
        form: session(m, None) for form, m in frontends(models_dir / name / "model.onnx").items()
    }
    sides["model"] = session(models_dir / name / "model.onnx", disabled)
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((1, card["chunk_samples"]))).astype(np.float32)
    mels = {form: sides[form].run(None, {"waveform": x})[0] for form in FORMS}
    scale = float(np.max(np.abs(mels["conv"])))
    rel = {f: float(np.max(np.abs(mels[f] - mels["conv"]))) / scale for f in ("factored", "stft")}
    for s in sides.values():
        per_chunk_ms(s, x, 3)  # warm-up
    times = alternating(
        lambda k: per_chunk_ms(sides[k], x, runs if k != "model" else max(runs // 10, 3)),
        list(sides),
        rounds,
    )
    conv_over_stft, low, high = ratios(times["conv"], times["stft"])
    conv_over_factored, flow, fhigh = ratios(times["conv"], times["factored"])
    med = {k: statistics.median(v) for k, v in times.items()}
    out = {
        "conv_ms": med["conv"],
        "factored_ms": med["factored"],
        "stft_ms": med["stft"],
        "conv_over_stft": conv_over_stft,
        "conv_over_stft_range": [low, high],
        "conv_over_factored": conv_over_factored,
        "conv_over_factored_range": [flow, fhigh],
        "model_ms": med["model"],
        "frontend_share": med["factored"] / med["model"],
        "max_rel_diff": rel["stft"],
        "factored_max_rel_diff": rel["factored"],
    }
    print(
        f"{name:13s} conv {med['conv']:.3f}, factored {med['factored']:.3f}, stft "
        f"{med['stft']:.3f} ms per chunk: conv/factored {conv_over_factored:.2f}x "
        f"({flow:.2f}-{fhigh:.2f}), conv/stft {conv_over_stft:.2f}x ({low:.2f}-{high:.2f}); "
        f"model {med['model']:.1f} ms, front-end share {out['frontend_share']:.1%}; "
        f"max rel diff factored {rel['factored']:.1e}, stft {rel['stft']:.1e}",
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
