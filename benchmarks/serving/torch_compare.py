"""PyTorch eager vs onnxruntime as served, on one batch of chunks (the ``onnx_vs_torch`` figure)."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.registry import LoadedModel
from benchmarks.serving.floor import split_run


def torch_comparison(
    model: LoadedModel, batch: int, threads: int, checkpoint: Path | None, repeats: int = 5
) -> dict[str, Any]:
    """Median time of one ``(batch, chunk_samples)`` run in PyTorch eager (``threads`` threads)
    and in onnxruntime as served."""
    card = model.card.model_dump()
    arch = card.get("architecture")
    try:
        import torch

        from training.models import MODELS, build_model
    except ImportError as exc:
        return {"onnx_vs_torch": None, "note": f"skipped: torch is not importable ({exc})"}
    if arch not in MODELS:
        return {
            "onnx_vs_torch": None,
            "note": f"skipped: architecture {arch!r} is not in training.models "
            f"({', '.join(MODELS)})",
        }
    torch.set_num_threads(threads)
    net = build_model(arch, n_tags=len(model.tags), **(card.get("model_config") or {}))
    weights = "random initialisation (timing is weight-independent)"
    if checkpoint is not None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if state.get("model_name", arch) != arch:
            weights = (
                f"random initialisation (checkpoint {checkpoint.name} is a "
                f"{state.get('model_name')!r}, not {arch!r}; timing is weight-independent)"
            )
        else:
            sd = state.get("state_dict", state)
            net.load_state_dict(
                {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in sd.items()}
            )
            weights = f"weights of checkpoint {checkpoint}"
    net.eval()
    x = np.random.default_rng(0).standard_normal((batch, model.chunk_samples)).astype(np.float32)
    xt = torch.from_numpy(x)

    def timed(fn) -> float:
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return float(np.median(times))

    with torch.inference_mode():
        torch_s = timed(lambda: torch.sigmoid(net(xt)))
    with concurrent.futures.ThreadPoolExecutor(model.workers) as pool:
        onnx_s = timed(lambda: split_run(model, x, model.max_batch, pool))
    return {
        "onnx_vs_torch": torch_s / onnx_s,
        "torch_ms": torch_s * 1000,
        "onnx_ms": onnx_s * 1000,
        "batch": batch,
        "note": f"PyTorch eager {torch.__version__}, {threads} threads, {weights}; "
        f"onnxruntime {model.workers} concurrent run(s)",
    }
