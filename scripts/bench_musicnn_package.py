"""Clips/s and top-3 tags of the musicnn package itself (Pons & Serra 2019), for reports/pretrained_speed.

Runs in the throwaway venv of the musicnn package (tensorflow-cpu 2.15.1, numpy<2, librosa
0.10.2.post1, musicnn 0.1.0 --no-deps), never in the project's: ``VENV/bin/python
scripts/bench_musicnn_package.py FILE... --passes 4 --out reports/pretrained_speed/x.json``.

The model is loaded once (graph built and checkpoint restored once, as a service would), then each
file goes through the package's own pipeline: ``musicnn.extractor.batch_data`` (librosa load at
16 kHz, mel, float16 log compression, non-overlapping 3-s patches) and the TF graph on batches of
``--batch-size`` patches; the clip's tags are the mean of the patch sigmoids (``top_tags``). The
clock covers decode + spectrogram + inference of every file in every pass after one untimed
warm-up pass. Reads only the audio files it is given.

``--serve`` keeps the loaded model and tags one file per line of stdin instead, answering one
JSON line each (``{"file", "seconds", "probabilities"}``; first line ``{"ready": ...}``): how
``python -m benchmarks.package`` alternates the package with the served model in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load_tagger(model: str, batch_size: int) -> tuple[Callable, list[str], float]:
    """``(tag(path) -> (50,) clip probabilities, labels, load seconds)``: the package's graph
    built and its checkpoint restored once."""
    import librosa
    import musicnn
    import numpy as np
    import tensorflow as tf
    from musicnn import configuration as config
    from musicnn import extractor, models

    tf.compat.v1.disable_eager_execution()
    n_frames = (
        librosa.time_to_frames(3, sr=config.SR, n_fft=config.FFT_SIZE, hop_length=config.FFT_HOP)
        + 1
    )
    t0 = time.perf_counter()
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, n_frames, config.N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        y = models.define_model(x, is_training, model, len(config.MTT_LABELS))[0]
        probs = tf.nn.sigmoid(y)
    sess = tf.compat.v1.Session()
    sess.run(tf.compat.v1.global_variables_initializer())
    tf.compat.v1.train.Saver().restore(
        sess, os.path.join(os.path.dirname(musicnn.__file__), model) + "/"
    )
    load_s = time.perf_counter() - t0

    def tag(path: str) -> np.ndarray:
        batch, _ = extractor.batch_data(path, n_frames, n_frames)  # (patches, 187, 96)
        outs = [
            sess.run(probs, feed_dict={x: batch[i : i + batch_size], is_training: False})
            for i in range(0, len(batch), batch_size)
        ]
        return np.concatenate(outs).mean(axis=0)

    return tag, list(config.MTT_LABELS), load_s


def serve(tag: Callable, labels: list[str], load_s: float) -> int:
    """One file per stdin line -> one JSON line on stdout (see the module docstring)."""
    import tensorflow as tf

    print(json.dumps({"ready": True, "labels": labels, "model_load_s": load_s,
                      "tensorflow": tf.__version__}), flush=True)  # fmt: skip
    for line in sys.stdin:
        path = line.rstrip("\n")
        if not path:
            continue
        t0 = time.perf_counter()
        v = tag(path)
        seconds = time.perf_counter() - t0
        print(json.dumps({"file": path, "seconds": seconds,
                          "probabilities": [float(p) for p in v]}), flush=True)  # fmt: skip
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("files", nargs="*")
    p.add_argument("--model", default="MTT_musicnn")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--passes", type=int, default=4, help="timed passes over the files")
    p.add_argument("--out", default=None, help="write the JSON result here")
    p.add_argument("--serve", action="store_true", help="tag the files named on stdin")
    args = p.parse_args()
    tag, labels, load_s = load_tagger(args.model, args.batch_size)
    if args.serve:
        return serve(tag, labels, load_s)
    if not args.files:
        p.error("give audio files (or --serve)")

    import librosa
    import musicnn
    import numpy as np
    import tensorflow as tf

    clip = {f: tag(f) for f in args.files}  # warm-up pass (untimed)
    t0 = time.perf_counter()
    for _ in range(args.passes):
        for f in args.files:
            tag(f)
    seconds = time.perf_counter() - t0
    n = args.passes * len(args.files)
    result = {
        "tool": f"musicnn {getattr(musicnn, '__version__', '0.1.0')} package, {args.model}",
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "librosa": librosa.__version__,
        "batch_size": args.batch_size,
        "clips": n,
        "seconds": seconds,
        "clips_per_s": n / seconds,
        "model_load_s": load_s,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "top3": {
            os.path.basename(f): [labels[i] for i in np.argsort(-v, kind="stable")[:3]]
            for f, v in clip.items()
        },
        "probabilities": {os.path.basename(f): v.round(4).tolist() for f, v in clip.items()},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
