"""Ray Data's fixed cost on this machine (benchmark, not a test):
``python -m benchmarks.ray_overhead [--files 200] [--work-s 0.2] [--rounds 3]``.

The library build's pipeline shape (:func:`app.library.build.dataset`: ``from_items`` ->
``map_batches`` on an actor pool of one actor per CPU, 1 CPU each, batches as the build cuts
them -> ``iter_batches`` in the driver) with an actor that sleeps ``--work-s`` per item instead
of tagging, in a fresh process per round, started as the build starts Ray
(:func:`app.library.build.start_ray`). Printed per round: the imports (Ray and the build module), ``ray.init``, the wait
for the first batch beyond its own work, the stream, ``ray.shutdown`` and the whole wall time
against the ideal (items x work / actors): what Ray adds to a build whatever the model, the
part of the gap to ``python -m app tag`` that no tagging code can remove.
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
import json, math, sys, time
t0 = time.perf_counter()
import ray, ray.data
from app.library.build import BATCHES_PER_ACTOR, quiet_ray_data, start_ray
t_import = time.perf_counter()
files, work = int(sys.argv[1]), float(sys.argv[2])
start_ray(None, 2)
t_init = time.perf_counter()
quiet_ray_data()
actors = int(ray.cluster_resources()["CPU"])
batch = max(1, min(16, math.ceil(files / (actors * BATCHES_PER_ACTOR))))

class Sleeper:
    def __call__(self, b):
        time.sleep(work * len(b["i"]))
        return b

ds = ray.data.from_items([{"i": i} for i in range(files)], override_num_blocks=-(-files // batch))
ds = ds.map_batches(Sleeper, batch_size=batch, compute=ray.data.ActorPoolStrategy(size=actors),
                    num_cpus=1)
first = None
for b in ds.iter_batches(batch_size=None):
    first = first or time.perf_counter()
t_done = time.perf_counter()
ray.shutdown()
t_end = time.perf_counter()
print(json.dumps({
    "import_s": t_import - t0, "init_s": t_init - t_import,
    "first_batch_wait_s": first - t_init - batch * work, "stream_s": t_done - first,
    "shutdown_s": t_end - t_done, "wall_s": t_end - t0, "ideal_s": files * work / actors,
    "actors": actors, "batch": batch,
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--work-s", type=float, default=0.2, help="seconds per item")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TAGGER_PROVIDERS": "cpu"}
    runs = []
    for r in range(args.rounds):
        load = os.getloadavg()[0]
        cmd = [sys.executable, "-c", CHILD, str(args.files), str(args.work_s)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=REPO)
        run = {**json.loads(out.stdout.strip().splitlines()[-1]), "load1": load}
        runs.append(run)
        print(
            f"round {r}: import {run['import_s']:.2f} s, ray.init {run['init_s']:.2f} s, first "
            f"batch wait {run['first_batch_wait_s']:.2f} s, stream {run['stream_s']:.2f} s, "
            f"shutdown {run['shutdown_s']:.2f} s; wall {run['wall_s']:.2f} s against "
            f"{run['ideal_s']:.2f} s of work on {run['actors']} actors (load {load:.2f})"
        )
    keys = ["import_s", "init_s", "first_batch_wait_s", "stream_s", "shutdown_s", "wall_s"]
    med = {k: round(median(r[k] for r in runs), 2) for k in keys}
    extra = round(med["wall_s"] - runs[0]["ideal_s"], 2)
    print(f"medians: {med}; Ray's cost over the ideal {runs[0]['ideal_s']:.1f} s: {extra} s")
    if args.json_out:
        result = {"command": " ".join(["python -m benchmarks.ray_overhead", *sys.argv[1:]])}
        result |= {"runs": runs, "medians": med, "extra_s": extra}
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
