"""Whole-song coverage vs the clip rule's own chunks, for one model on real recordings.

For each file (and one long file made by concatenating them), the clip probabilities from the
card's clip rule (``ClipRule.chunks(x)``: won_musicnn's 16 chunks of 3 s) and from whole-song
coverage (``ClipRule.chunks(x, cap)``) are compared: decided labels under the card's f1
thresholds (:func:`tagging.decisions.rule_for`), max |dp| over all tags, top-3 agreement; and
timed (decode + chunk + onnxruntime, the two variants alternating, median of ``--rounds``).

    python scripts/bench_coverage.py [--model won_musicnn] [--cap 128] [--rounds 5] FILES...
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import soundfile as sf

from tagging.audio import decode
from tagging.card import ModelCard
from tagging.decisions import rule_for

REPO = Path(__file__).resolve().parents[1]


def run(sess: ort.InferenceSession, card: ModelCard, chunks: np.ndarray) -> np.ndarray:
    """(N, L) -> (K,) mean probabilities, 16 chunks per onnxruntime run."""
    out = [
        sess.run([card.output_name], {card.input_name: chunks[i : i + 16]})[0]
        for i in range(0, len(chunks), 16)
    ]
    return np.concatenate(out).mean(axis=0)


def tag(path: Path, sess, card: ModelCard, cap: int | None) -> tuple[np.ndarray, int, float]:
    """Decode + chunk + run: (probabilities, chunks, seconds heard)."""
    x = decode(str(path), target_sr=card.sample_rate)
    rule = card.clip_rule
    chunks = rule.chunks(x, cap)
    heard = rule.heard_samples(len(x), rule.cover(len(x), cap)) / card.sample_rate
    return run(sess, card, chunks), len(chunks), heard


def long_file(files: list[Path], sr: int, out: Path) -> Path:
    """The files end to end (mono, ``sr``) as one FLAC."""
    x = np.concatenate([decode(str(f), target_sr=sr) for f in files])
    sf.write(out, x, sr, format="FLAC", subtype="PCM_16")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--model", default="won_musicnn")
    p.add_argument("--cap", type=int, default=128)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    args = p.parse_args()
    card = ModelCard.read(REPO / "models" / args.model / "card.json")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(
        str(REPO / "models" / args.model / "model.onnx"), opts, providers=["CPUExecutionProvider"]
    )
    decide = rule_for(card)  # the card's default policy (f1)
    cols = list(range(len(card.tags)))
    with tempfile.TemporaryDirectory() as tmp:
        files = [*args.files, long_file(args.files, card.sample_rate, Path(tmp) / "concat.flac")]
        print(f"model {args.model}, cap {args.cap}, policy {decide.policy}, load {os.getloadavg()}")
        print(
            "| file | duration s | chunks (rule / cover) | heard s (rule / cover) | labels rule "
            "| labels cover | same labels | max abs dp | top-3 same | ms rule | ms cover |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for f in files:
            (pa, na, ha), (pb, nb, hb) = tag(f, sess, card, None), tag(f, sess, card, args.cap)
            times: dict[str, list[float]] = {"rule": [], "cover": []}
            for _ in range(args.rounds):  # alternate the variants
                for key, cap in (("rule", None), ("cover", args.cap)):
                    t0 = time.perf_counter()
                    tag(f, sess, card, cap)
                    times[key].append((time.perf_counter() - t0) * 1000)
            la, lb = decide.labels(card.tags, cols, pa), decide.labels(card.tags, cols, pb)
            top_a, top_b = set(np.argsort(-pa)[:3]), set(np.argsort(-pb)[:3])
            dur = len(decode(str(f), target_sr=card.sample_rate)) / card.sample_rate
            name = "concatenation of the above" if f.name == "concat.flac" else f.name
            print(
                f"| {name} | {dur:.1f} | {na} / {nb} | {ha:.1f} / {hb:.1f} | {', '.join(la)} "
                f"| {', '.join(lb)} | {'yes' if la == lb else 'no'} "
                f"| {np.abs(pa - pb).max():.3f} | {'yes' if top_a == top_b else 'no'} "
                f"| {statistics.median(times['rule']):.0f} "
                f"| {statistics.median(times['cover']):.0f} |"
            )
        print(f"load after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
