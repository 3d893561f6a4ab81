"""Parity of a ported tagger with its original: recorded reference outputs vs the port's outputs.

A reference (``tests/data/pretrained/<name>.json``, recorded once with the original code; how is in
``tests/data/pretrained/README.md``) holds, per recording:

* ``wave``: a 16-bit 16 kHz excerpt (FLAC, exact in float32) and ``patch_starts``: where the
  original's patches start in it, after the port's clip rule has tiled short input and added its
  lead padding; ``patch_logits`` ``(n, 50)``: the original's pre-sigmoid outputs on them;
* ``file``: the recording and ``clip_probabilities`` ``(50,)`` / ``clip_top3``: the original tool's
  clip-level output (its own decoder and chunking, outputs averaged).

:func:`check` runs a port (torch module or ONNX session, anything mapping ``(n, L)`` waveforms to
``(probabilities, logits)``) on the same patches and, through the project's own decode and
:class:`tagging.clips.ClipRule`, on the whole files, and reports the differences.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from tagging.audio import decode
from tagging.clips import ClipRule

PATCH_TOLERANCE = 1e-3
"""Max absolute difference of per-patch logits on the same 16 kHz waveform."""
CLIP_TOLERANCE = 0.02
"""Max absolute difference of clip-level probabilities (the project's decoder and resampler
differ from the original's: librosa's soxr/audioread path)."""

EMBEDDING_TOLERANCE = 1e-3
"""Max absolute difference of per-patch penultimate features (the ``embedding`` output) from the
original's, relative to the features' largest magnitude on that recording (at least 1)."""

Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``(n, L)`` float32 waveforms -> ``(probabilities, logits)``, each ``(n, K)``."""


@dataclass
class ParityResult:
    """Differences between a port and its original's recorded outputs, per recording."""

    name: str
    patch_max_abs: dict[str, float] = field(default_factory=dict)
    clip_max_abs: dict[str, float] = field(default_factory=dict)
    top3: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    """recording -> (the port's top 3, the original's top 3)."""

    @property
    def failures(self) -> list[str]:
        out = [
            f"{k}: per-patch logits differ by {d:.3g} > {PATCH_TOLERANCE:g}"
            for k, d in self.patch_max_abs.items()
            if not d <= PATCH_TOLERANCE
        ]
        out += [
            f"{k}: clip probabilities differ by {d:.3g} > {CLIP_TOLERANCE:g}"
            for k, d in self.clip_max_abs.items()
            if not d <= CLIP_TOLERANCE
        ]
        out += [f"{k}: top-3 {a} != original {b}" for k, (a, b) in self.top3.items() if a != b]
        return out

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {
            "patch_logits_max_abs_diff": self.patch_max_abs,
            "clip_probabilities_max_abs_diff": self.clip_max_abs,
            "top3": {k: {"port": a, "original": b} for k, (a, b) in self.top3.items()},
            "tolerances": {"patch_logits": PATCH_TOLERANCE, "clip_probabilities": CLIP_TOLERANCE},
            "ok": self.ok,
        }


def load_reference(path: str | Path) -> dict[str, Any]:
    """A recorded reference (JSON); relative ``wave`` paths resolve against its folder."""
    path = Path(path)
    ref = json.loads(path.read_text())
    ref["_dir"] = str(path.parent)
    return ref


def patch_inputs(rule: ClipRule, excerpt: np.ndarray, starts: list[int]) -> np.ndarray:
    """``(n, L)`` model inputs: ``excerpt`` tiled/padded as ``rule`` does, cut at ``starts``."""
    x = np.asarray(excerpt, dtype=np.float32)
    if len(x) < rule.min_samples:
        x = np.tile(x, -(-rule.min_samples // len(x)))[: rule.min_samples]
    x = np.pad(x, (rule.lead_pad, rule.tail_pad))
    return np.stack([x[s : s + rule.chunk_samples] for s in starts])


def top_k(probs: np.ndarray, tags: list[str] | tuple[str, ...], k: int = 3) -> list[str]:
    """The ``k`` tags of highest probability, highest first."""
    return [tags[i] for i in np.argsort(-np.asarray(probs), kind="stable")[:k]]


def clip_probabilities(
    run: Runner, rule: ClipRule, wave: np.ndarray, batch: int = 16
) -> np.ndarray:
    """Clip-level probabilities ``(K,)``: the rule's chunks, run in batches, averaged."""
    chunks = rule.chunks(wave)
    probs = [run(chunks[i : i + batch])[0] for i in range(0, len(chunks), batch)]
    return np.concatenate(probs).mean(axis=0)


def check(
    name: str,
    run: Runner,
    rule: ClipRule,
    reference: dict[str, Any],
    repo: str | Path,
    clips: bool = True,
    only: list[str] | None = None,
) -> ParityResult:
    """Compare ``run`` with ``reference`` (per-patch always, clip level if ``clips``).

    ``repo`` is the root the reference's ``file`` paths are relative to; ``only`` limits the
    check to those recordings (default: all).
    """
    result = ParityResult(name)
    tags = reference["labels"]
    recordings = reference["recordings"]
    unknown = sorted(set(only or []) - set(recordings))
    if unknown:
        raise ValueError(f"no recordings {unknown} in the reference; it has {sorted(recordings)}")
    for key, rec in recordings.items():
        if only is not None and key not in only:
            continue
        excerpt, sr = sf.read(Path(reference["_dir"]) / rec["wave"], dtype="float32")
        if sr != 16_000 or excerpt.ndim != 1:
            raise ValueError(f"{rec['wave']}: expected mono 16 kHz, got {sr} Hz {excerpt.shape}")
        _, logits = run(patch_inputs(rule, excerpt, rec["patch_starts"]))
        expected = np.asarray(rec["patch_logits"], dtype=np.float64)
        result.patch_max_abs[key] = float(np.max(np.abs(logits - expected)))
        if clips:
            probs = clip_probabilities(run, rule, decode(Path(repo) / rec["file"]))
            ref_probs = np.asarray(rec["clip_probabilities"])
            result.clip_max_abs[key] = float(np.max(np.abs(probs - ref_probs)))
            result.top3[key] = (top_k(probs, tags), list(rec["clip_top3"]))
    return result


def torch_runner(model: Any) -> Runner:
    """A :data:`Runner` for a torch module returning logits (eval mode, no grad, CPU)."""
    import torch

    model = model.eval()

    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            z = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).double()
        return torch.sigmoid(z).numpy(), z.numpy()

    return run


def onnx_runner(path: str | Path, providers: list[str] | None = None) -> Runner:
    """A :data:`Runner` for an exported graph with ``probabilities`` and ``logits`` outputs."""
    import onnxruntime as ort

    from training.export import INPUT_NAME, LOGITS_NAME, OUTPUT_NAME

    session = ort.InferenceSession(str(path), providers=providers or ["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    if LOGITS_NAME not in names:
        raise ValueError(f"{path} has outputs {names}; parity needs {LOGITS_NAME!r}")

    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feed = {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)}
        p, z = session.run([OUTPUT_NAME, LOGITS_NAME], feed)
        return p.astype(np.float64), z.astype(np.float64)

    return run


def embedding_runner(path: str | Path) -> Callable[[np.ndarray], np.ndarray]:
    """``(n, L)`` waveforms -> the exported graph's ``embedding`` ``(n, D)`` (float64)."""
    import onnxruntime as ort

    from training.embedding import EMBEDDING_NAME
    from training.export import INPUT_NAME

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        feed = {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)}
        return session.run([EMBEDDING_NAME], feed)[0].astype(np.float64)

    return run


def embedding_diffs(
    embed: Callable[[np.ndarray], np.ndarray],
    rule: ClipRule,
    reference: dict[str, Any],
    penultimate: dict[str, Any],
) -> dict[str, float]:
    """Per recording: max |port's embedding - original's penultimate features| on the logits
    reference's patches, divided by max(1, max |original|) (``<name>_penultimate.json``, recorded
    by ``scripts/record_penultimate.py``)."""
    out = {}
    for key, rec in reference["recordings"].items():
        excerpt, _ = sf.read(Path(reference["_dir"]) / rec["wave"], dtype="float32")
        got = embed(patch_inputs(rule, excerpt, rec["patch_starts"]))
        want = np.asarray(penultimate["recordings"][key]["patch_penultimate"], dtype=np.float64)
        if got.shape != want.shape:
            raise ValueError(f"{key}: embedding {got.shape}, original's penultimate {want.shape}")
        out[key] = float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))
    return out
