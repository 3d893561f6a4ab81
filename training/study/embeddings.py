"""Model embeddings: a checkpoint's penultimate features per clip, captured by a forward hook.

The layer is the one every exported model's ONNX output ``embedding`` holds (the input of the
final classifier, :func:`training.embedding.final_linear`: one definition for both).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tagging.constants import EVAL_CHUNKS, SAMPLE_RATE
from training.embedding import final_linear
from training.study.config import AnalyzeConfig


def model_embeddings(
    model: Any,
    waves: Sequence[np.ndarray],
    chunk_samples: int,
    n_tags: int,
    n_chunks: int = EVAL_CHUNKS,
    batch_size: int = 32,
    device: str | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Penultimate features ``(N, F)``: input of the final Linear, averaged over each clip's chunks.

    A forward hook on :func:`final_linear` captures its input ``(B, ..., F)``; extra axes (time
    steps of a per-step classifier) are averaged too. Chunks are those of evaluation
    (:meth:`tagging.clips.ClipRule.evenly_spaced`: ``n_chunks`` evenly spaced, zero-padded).
    """
    import torch
    from tqdm import tqdm

    from tagging.clips import ClipRule

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = model.to(dev).eval()
    captured: list[torch.Tensor] = []

    def hook(_mod: Any, inputs: tuple[Any, ...]) -> None:
        feats = inputs[0].detach()
        captured.append(feats.reshape(feats.shape[0], -1, feats.shape[-1]).mean(dim=1).float())

    rule = ClipRule.evenly_spaced(chunk_samples, n_chunks)
    handle = final_linear(model, n_tags).register_forward_pre_hook(hook)
    out = []
    try:
        with torch.no_grad():
            for wave in tqdm(waves, desc="embeddings", unit="clip", disable=not progress):
                chunks = rule.chunks(wave)  # (n_chunks, L)
                parts = []
                for s in range(0, len(chunks), batch_size):
                    captured.clear()
                    model(torch.from_numpy(chunks[s : s + batch_size]).to(dev))
                    if not captured:
                        raise RuntimeError("the final Linear layer was not called in forward()")
                    parts.append(captured[-1])
                out.append(torch.cat(parts).mean(dim=0).cpu().numpy())
    finally:
        handle.remove()
    return np.stack(out).astype(np.float64)


def checkpoint_embeddings(
    checkpoint: Path, root: Path, rel_paths: Sequence[str], cfg: AnalyzeConfig
) -> tuple[np.ndarray, dict[str, Any]]:
    """Load ``best.pt``-style checkpoint, build the model and embed the clips at ``rel_paths``."""
    from tagging.audio import decode
    from training.checkpoints import load_checkpoint_model

    model, ckpt = load_checkpoint_model(checkpoint)
    n_tags = len(ckpt["tags"])
    waves = [decode(root / p, SAMPLE_RATE) for p in rel_paths]
    emb = model_embeddings(
        model,
        waves,
        int(ckpt["chunk_samples"]),
        n_tags,
        batch_size=cfg.batch_size,
        progress=cfg.progress,
    )
    info = {
        "model_name": ckpt["model_name"],
        "checkpoint": str(checkpoint),
        "epoch": ckpt.get("epoch"),
        "metric_name": ckpt.get("metric_name"),
        "metric": ckpt.get("metric"),
        "dim": int(emb.shape[1]),
    }
    return emb, info
