"""CPU batch size against CPU per chunk and resting memory (benchmark, not a test):
``python -m benchmarks.cpu_batch [--models pons_musicnn,won_musicnn] [--batches 1,4] [--rounds 3]``.

Per model and round, one fresh process per batch size (alternating, the order turning each
round): the model loaded by the service's registry with ``TAGGER_MAX_BATCH`` = the batch (its
session options, onnxruntime's CPU arena on), then two threads run 6 batches of that size
each, as the service's two single-threaded inference workers do on a 2-core machine. Printed:
CPU ms per chunk (the process's user + system time over the chunks run) and VmRSS after the
runs (the arena keeps the largest batch's activations); medians over rounds, with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, threading, time
from pathlib import Path
import numpy as np
from app.config import Settings
from app.registry import ModelRegistry
name, batch = sys.argv[1], int(sys.argv[2])
model = ModelRegistry(Settings(providers="cpu", max_batch=batch)).get(name)
x = np.random.default_rng(0).normal(size=(batch, model.chunk_samples)).astype(np.float32) * 0.1
def work():
    for _ in range(6):
        model.run(x)
c0 = time.process_time()
threads = [threading.Thread(target=work) for _ in range(2)]
[t.start() for t in threads]
[t.join() for t in threads]
cpu = (time.process_time() - c0) / (12 * batch)
rss = next(int(l.split()[1]) for l in Path("/proc/self/status").read_text().splitlines()
           if l.startswith("VmRSS")) / 1024
print(json.dumps({"cpu_ms_per_chunk": cpu * 1000, "rss_mb": rss}))
"""


def one(model: str, batch: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, model, str(batch)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="pons_musicnn,won_musicnn,pons_vgg,won_fcn,cnn1d")
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    print(f"load average before: {os.getloadavg()}")
    for model in args.models.split(","):
        runs: dict[int, list[dict]] = {b: [] for b in batches}
        for r in range(args.rounds):
            order = batches[r % len(batches) :] + batches[: r % len(batches)]
            for b in order:
                runs[b].append(one(model, b))
        for b in batches:
            cpu = median(x["cpu_ms_per_chunk"] for x in runs[b])
            rss = median(x["rss_mb"] for x in runs[b])
            print(f"{model} batch {b}: CPU {cpu:.1f} ms per chunk, RSS after runs {rss:.0f} MB")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
