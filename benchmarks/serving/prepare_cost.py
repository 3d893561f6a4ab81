"""CPU time and page faults of the service's prepare step for one upload (benchmark, not a test).

    python benchmarks/serving/prepare_cost.py MODEL [--models-dir DIR] [--uploads 20]

prints one JSON line: ``cpu_ms`` and ``minor_faults`` per upload of the MTAT clip, the median of
``--rounds`` rounds of ``--uploads`` each, on one thread. The step is what a service thread does
for an upload before and around inference: the upload spooled as ``POST /predict`` spools it,
the header check, decode + chunk (``Tagger.prepare``), and the rows cut one run at a time as the
batcher cuts them; with glibc's mmap threshold pinned as the service pins it
(``TAGGER_MALLOC_MMAP_THRESHOLD_KB``). Run by path, it imports only ``app``: with another
checkout on ``PYTHONPATH`` it measures that checkout's code
(``python -m benchmarks.serving.trees BEFORE AFTER --model M --prepare`` alternates two).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
from pathlib import Path

from app.config import DEFAULT_MODELS_DIR, Settings
from app.errors import UnknownModelError
from app.memory import pin_mmap_threshold
from app.registry import ModelRegistry
from app.tagger import Tagger

MTAT_CLIP = Path(__file__).resolve().parents[2] / "tests/data/joram-moments_of_clarity-08-solipsism-59-88.mp3"  # fmt: skip


def measure(model: str, models_dir: Path, uploads: int, rounds: int) -> dict[str, float]:
    settings = Settings(models_dir=models_dir, default_model=model, providers="cpu")
    pin_mmap_threshold(settings.malloc_mmap_threshold_kb * 1024)
    registry = ModelRegistry(settings)
    tagger, loaded = Tagger(settings, registry), registry.get(model)
    data = MTAT_CLIP.read_bytes()

    def one() -> None:
        with tempfile.SpooledTemporaryFile(settings.spool_memory_bytes) as spool:
            spool.write(data)
            info = tagger.check_header(spool)
            chunks = tagger.prepare(spool, loaded, False, info)[0]
            for i in range(len(chunks)):  # the batcher's runs of one row each (max_batch 1)
                chunks.rows(i, i + 1)

    one()  # warm: the model's first cut, the decoder's first open
    cpu, faults = [], []
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_THREAD)
        for _ in range(uploads):
            one()
        after = resource.getrusage(resource.RUSAGE_THREAD)
        used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        cpu.append(1000 * used / uploads)
        faults.append((after.ru_minflt - before.ru_minflt) / uploads)
    return {"cpu_ms": statistics.median(cpu), "minor_faults": statistics.median(faults)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    p.add_argument("--uploads", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    if args.uploads < 1 or args.rounds < 1:
        p.error("--uploads and --rounds must be >= 1")
    try:
        ModelRegistry(Settings(models_dir=args.models_dir)).check_name(args.model)
    except UnknownModelError as exc:
        p.error(str(exc))
    print(json.dumps(measure(args.model, args.models_dir, args.uploads, args.rounds)))


if __name__ == "__main__":
    main()
