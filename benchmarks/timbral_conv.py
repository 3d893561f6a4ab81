"""won_musicnn's timbral convolutions in other ONNX forms, and the SGEMM ceiling (benchmark, not
a test): ``python -m benchmarks.timbral_conv [--rounds 5] [--runs 30]``.

80 % of ``won_musicnn``'s CPU time per 3-s chunk is its two "timbral" convolutions (Pons et al.
2018's musically motivated filters, as Won et al. 2020 re-implemented them): 204 filters of
``h x 7`` (h = 67 and 38, 0.7 and 0.4 of the 96 mel bins) over the single-channel
``(96, 188)`` log-mel, padded 3 frames in time, then ReLU and the maximum over frequency.
Each form below computes exactly that (random weights of the same shape), one chunk per run on
one thread (the service's CPU layout), NCHWc off (as the card says), alternating per round:

* ``conv``: the exported graph's form, ``Conv`` on ``(1, 1, 96, 188)`` + ``ReduceMax``;
* ``transposed``: the same convolution on the transposed mel ``(1, 1, 188, 96)``;
* ``unfolded``: the frequency offsets as input channels: ``Gather`` to ``(96 - h + 1, h, 188)``,
  a 1-D ``Conv`` of ``h`` channels and width 7, ``ReduceMax`` over the first axis;
* ``dft``: the form the ports export, through a DFT over frequency
  (:class:`training.models.pretrained.vertical.VerticalMax`, exported by torch), then ``Relu``;
  the same sums (fp32 rounding aside) with 2.6x fewer multiply-adds. Every filter is live here;
  the ports' dead filters (a quarter or more) are left out on top of this.

Printed per height: ms per chunk of each form (median over rounds), their max |difference|
from ``conv``, the multiply-accumulates per chunk, the GMAC/s of ``conv``, and the GMAC/s of
numpy's single-threaded SGEMM on the same im2col matrix shapes ``(204, 7h) @ (7h, (97 - h) x
188)`` (its BLAS; set ``OPENBLAS_NUM_THREADS=1``): how far from the machine's matrix-multiply
speed the shipped form already is.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from benchmarks.frontend_stft import session
from benchmarks.results import alternating, finish

MELS, FRAMES, WIDTH, FILTERS = 96, 188, 7, 204
HEIGHTS = (67, 38)


def _session(nodes: list, inits: list) -> ort.InferenceSession:
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 1, MELS, FRAMES])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)
    model = helper.make_model(
        helper.make_graph(nodes, "timbral", [x], [y], inits),
        opset_imports=[helper.make_opsetid("", 18)],
    )
    model.ir_version = 9
    return session(model, ["NchwcTransformer"])  # one thread, as the front-end benchmark


def _ints(name: str, values) -> TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def forms(height: int, seed: int = 0) -> dict[str, ort.InferenceSession]:
    """The three forms for filters of ``height`` rows (same random weights and biases)."""
    rng = np.random.default_rng(seed)
    w = (0.05 * rng.standard_normal((FILTERS, 1, height, WIDTH))).astype(np.float32)
    b = numpy_helper.from_array((0.1 * rng.standard_normal(FILTERS)).astype(np.float32), "B")
    pad = WIDTH // 2
    rows = MELS - height + 1
    conv = _session(
        [
            helper.make_node("Conv", ["X", "W", "B"], ["c"], pads=[0, pad, 0, pad]),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("ReduceMax", ["r", "ax"], ["Y"], keepdims=0),  # (1, F, T)
        ],
        [numpy_helper.from_array(w, "W"), b, _ints("ax", [2])],
    )
    transposed = _session(
        [
            helper.make_node("Transpose", ["X"], ["xt"], perm=[0, 1, 3, 2]),  # (1, 1, T, 96)
            helper.make_node("Conv", ["xt", "Wt", "B"], ["c"], pads=[pad, 0, pad, 0]),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("ReduceMax", ["r", "ax"], ["Y"], keepdims=0),
        ],
        [numpy_helper.from_array(np.ascontiguousarray(w.transpose(0, 1, 3, 2)), "Wt"), b,
         _ints("ax", [3])],
    )  # fmt: skip
    index = np.arange(rows)[:, None] + np.arange(height)[None, :]  # (rows, h)
    unfolded = _session(
        [
            helper.make_node("Reshape", ["X", "shape"], ["x2"]),  # (96, T)
            helper.make_node("Gather", ["x2", "index"], ["u"], axis=0),  # (rows, h, T)
            helper.make_node("Conv", ["u", "W1", "B"], ["c"], pads=[pad, pad]),  # (rows, F, T)
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("ReduceMax", ["r", "ax"], ["Y"], keepdims=1),  # (1, F, T)
        ],
        [numpy_helper.from_array(w[:, 0], "W1"), b, _ints("ax", [0]),
         _ints("shape", [MELS, FRAMES]), _ints("index", index)],
    )  # fmt: skip
    return {"conv": conv, "transposed": transposed, "unfolded": unfolded, "dft": _dft(w, b)}


def _dft(w: np.ndarray, b: TensorProto) -> ort.InferenceSession:
    """``VerticalMax`` of the same filters, exported by torch (its ONNX form in the ports)."""
    import torch

    from training.models.pretrained.vertical import VerticalMax

    vertical = VerticalMax(
        torch.from_numpy(w[:, 0]), torch.from_numpy(numpy_helper.to_array(b)), MELS
    )

    class Form(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.vertical = vertical

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (1, 1, 96, T) -> (1, F, T)
            pad = WIDTH // 2
            return torch.relu(self.vertical(torch.nn.functional.pad(x[:, 0], (pad, pad))))

    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            Form().eval(), (torch.zeros(1, 1, MELS, FRAMES),), buffer, dynamo=False,
            input_names=["X"], output_names=["Y"], opset_version=18,
        )  # fmt: skip
    return session(onnx.load_from_string(buffer.getvalue()), ["NchwcTransformer"])


def _ms(sess: ort.InferenceSession, x: np.ndarray, runs: int) -> float:
    t0 = time.perf_counter()
    for _ in range(runs):
        sess.run(None, {"X": x})
    return 1000 * (time.perf_counter() - t0) / runs


def sgemm_gmacs(height: int, runs: int) -> float:
    """numpy's SGEMM speed on the im2col shapes of the ``height`` convolution."""
    rng = np.random.default_rng(1)
    k, n = WIDTH * height, (MELS - height + 1) * FRAMES
    a = rng.random((FILTERS, k), dtype=np.float32)
    b = rng.random((k, n), dtype=np.float32)
    a @ b
    t0 = time.perf_counter()
    for _ in range(runs):
        a @ b
    return FILTERS * k * n * runs / (time.perf_counter() - t0) / 1e9


def bench(height: int, rounds: int, runs: int) -> dict:
    sessions = forms(height)
    x = np.random.default_rng(2).standard_normal((1, 1, MELS, FRAMES)).astype(np.float32)
    ref = sessions["conv"].run(None, {"X": x})[0].reshape(FILTERS, FRAMES)
    diff = {
        k: float(np.abs(s.run(None, {"X": x})[0].reshape(FILTERS, FRAMES) - ref).max())
        for k, s in sessions.items()
    }
    times = alternating(lambda k: _ms(sessions[k], x, runs), list(sessions), rounds)
    ms = {k: statistics.median(v) for k, v in times.items()}
    macs = FILTERS * height * WIDTH * (MELS - height + 1) * FRAMES
    out = {
        "ms": ms,
        "max_abs_diff": diff,
        "macs": macs,
        "conv_gmacs": macs / ms["conv"] / 1e6,
        "sgemm_gmacs": sgemm_gmacs(height, runs),
    }
    print(
        f"{FILTERS} filters of {height} x {WIDTH}: "
        + ", ".join(f"{k} {v:.2f} ms" for k, v in ms.items())
        + f"; max |diff| {max(diff.values()):.1e}; {macs / 1e6:.0f} MMAC per chunk: conv "
        f"{out['conv_gmacs']:.0f} GMAC/s, numpy SGEMM {out['sgemm_gmacs']:.0f} GMAC/s",
        flush=True,
    )
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m benchmarks.timbral_conv", description=__doc__)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--json-out", type=Path, default=None)
    args = p.parse_args(argv)
    result = {"load_avg_before": os.getloadavg(), "onnxruntime": ort.__version__}
    result["heights"] = {h: bench(h, args.rounds, args.runs) for h in HEIGHTS}
    return finish(result, args.json_out)


if __name__ == "__main__":
    main()
