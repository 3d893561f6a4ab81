"""Decoding benchmark: the libsndfile-only decoder against today's, side by side in one run.

``python -m benchmarks.decode --out reports/decoding`` prints (and writes) three tables:

* speed: decode + mix + resample to 16 kHz of real and generated files, medians over
  ``--repeats`` rounds in which the paths alternate: ``old`` (libsndfile + soxr only,
  :func:`decode_old`), ``new`` (:func:`tagging.audio.load`:
  libsndfile for the MP3s it sniffs, FFmpeg otherwise) and ``ffmpeg`` (``load(sndfile=False)``);
* memory: peak RSS growth while decoding a 10-minute file, each decode in a fresh subprocess,
  against the size of the decoded float32 signal;
* prepare (with ``--mtat-root`` and ``--old-tree``): ``python -m training prepare`` throughput,
  old tree and this one alternating, fresh caches.

Timings on a shared machine are noisy: rerun and compare medians.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from tagging.audio import load
from tagging.constants import SAMPLE_RATE

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
MTAT_CLIP = DATA / "joram-moments_of_clarity-08-solipsism-59-88.mp3"
JAMENDO = DATA / "jamendo_948_44k_stereo.mp3"


def decode_old(source: bytes, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """The libsndfile-only decode path: libsndfile reads 60-s blocks, mean of the channels,
    soxr HQ streaming resampler, blocks concatenated at the end."""
    with sf.SoundFile(io.BytesIO(source)) as f:
        sr = f.samplerate
        stream = None if sr == target_sr else soxr.ResampleStream(sr, target_sr, 1, "float32", "HQ")
        blocks = []
        while len(block := f.read(max(int(60 * sr), 1024), dtype="float32", always_2d=True)):
            mono = block.mean(axis=1, dtype=np.float32)
            if not np.all(np.isfinite(mono)):
                raise ValueError("NaN")
            blocks.append(mono if stream is None else stream.resample_chunk(mono))
    if stream is not None:
        blocks.append(stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    return np.concatenate(blocks)


DECODERS: dict[str, Callable[[bytes], np.ndarray]] = {
    "old": decode_old,
    "new": lambda data: load(data)[0],
    "ffmpeg": lambda data: load(data, sndfile=False)[0],
}


def stereo_music(seconds: float) -> tuple[np.ndarray, int]:
    """(n, 2) float32 at 44.1 kHz: the committed Jamendo excerpt looped to ``seconds``."""
    x, sr = sf.read(JAMENDO, dtype="float32", always_2d=True)
    reps = int(np.ceil(seconds * sr / len(x)))
    return np.tile(x, (reps, 1))[: int(seconds * sr)], sr


def encoded(x: np.ndarray, sr: int, fmt: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype="MPEG_LAYER_III" if fmt == "MP3" else "PCM_16")
    return buf.getvalue()


def inputs(workdir: Path) -> dict[str, bytes]:
    """The files timed: the two committed MP3s and 30-s 44.1 kHz stereo MP3/FLAC made here."""
    music, sr = stereo_music(30.0)
    files = {
        "mtat_29s_16k_mono.mp3": MTAT_CLIP.read_bytes(),
        "jamendo_2s_44k_stereo.mp3": JAMENDO.read_bytes(),
        "music_30s_44k_stereo.mp3": encoded(music, sr, "MP3"),
        "music_30s_44k_stereo.flac": encoded(music, sr, "FLAC"),
    }
    for name, data in files.items():
        (workdir / name).write_bytes(data)
    return files


def time_decoders(files: dict[str, bytes], repeats: int) -> list[dict]:
    """Median ms per decoder and file; decoders alternate inside each round."""
    rows = []
    for name, data in files.items():
        times: dict[str, list[float]] = {k: [] for k in DECODERS}
        lengths = {k: len(fn(data)) for k, fn in DECODERS.items()}  # warm-up, and same output
        for _ in range(repeats):
            for key, fn in DECODERS.items():
                t0 = time.perf_counter()
                fn(data)
                times[key].append(time.perf_counter() - t0)
        med = {k: 1000 * float(np.median(v)) for k, v in times.items()}
        rows.append(
            {
                "file": name,
                **{f"{k}_ms": round(v, 2) for k, v in med.items()},
                "new_over_old": round(med["new"] / med["old"], 3),
                "ffmpeg_over_old": round(med["ffmpeg"] / med["old"], 3),
                "samples": lengths,
            }
        )
    return rows


def status_kib(field: str) -> int:
    """A memory figure of this process from Linux ``/proc/self/status`` (VmRSS, VmHWM), KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_child(path: Path, decoder: str) -> None:
    """In a fresh process: peak RSS growth of one decode (printed as JSON)."""
    data = path.read_bytes()
    DECODERS[decoder](JAMENDO.read_bytes())  # warm-up: libraries loaded, first allocations made
    if decoder == "new":
        load(JAMENDO.read_bytes(), sndfile=False)
    # Reset the peak (VmHWM) to the current RSS. Not ru_maxrss: across fork + exec it keeps the
    # parent's peak, and it would also keep the transients of start-up.
    Path("/proc/self/clear_refs").write_text("5")
    before = status_kib("VmRSS")
    x = DECODERS[decoder](data)
    peak = status_kib("VmHWM")
    out = {"peak_growth_mb": (peak - before) * 1024 / 1e6, "decoded_mb": x.nbytes / 1e6}
    print(json.dumps(out))


def peak_memory(workdir: Path, minutes: float) -> list[dict]:
    music, sr = stereo_music(minutes * 60)
    rows = []
    for fmt in ("MP3", "FLAC"):
        path = workdir / f"music_{minutes:g}min_44k_stereo.{fmt.lower()}"
        path.write_bytes(encoded(music, sr, fmt))
        for decoder in DECODERS:
            cmd = [sys.executable, "-m", "benchmarks.decode", "--memory-child"]
            proc = subprocess.run(
                [*cmd, str(path), decoder], capture_output=True, text=True, check=True, cwd=REPO
            )
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(
                {
                    "file": path.name,
                    "decoder": decoder,
                    "peak_growth_mb": round(got["peak_growth_mb"], 1),
                    "decoded_float32_mb": round(got["decoded_mb"], 1),
                    "ratio": round(got["peak_growth_mb"] / got["decoded_mb"], 2),
                }
            )
    return rows


def prepare_throughput(mtat_root: Path, old_tree: Path, repeats: int, workers: int) -> list[dict]:
    """``python -m training prepare`` clips/s, the old tree and this one alternating."""
    n_clips = sum(1 for _ in mtat_root.glob("*/*.mp3"))
    times: dict[str, list[float]] = {"old": [], "new": []}
    for _ in range(repeats):
        for key, tree in (("old", old_tree), ("new", REPO)):
            cache = Path(tempfile.mkdtemp(prefix=f"prepare_{key}_"))
            cmd = [sys.executable, "-m", "training", "prepare", "--mtat-root", str(mtat_root)]
            cmd += ["--cache", str(cache), "--workers", str(workers), "--no-progress"]
            env = {**os.environ, "PYTHONPATH": str(tree)}
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, cwd=tree, capture_output=True)
            times[key].append(time.perf_counter() - t0)
            shutil.rmtree(cache)
    med = {k: float(np.median(v)) for k, v in times.items()}
    return [
        {
            "clips": n_clips,
            "workers": workers,
            **{f"{k}_s": [round(t, 2) for t in v] for k, v in times.items()},
            **{f"{k}_clips_per_s": round(n_clips / med[k], 1) for k in med},
            "new_over_old_throughput": round(med["old"] / med["new"], 3),
        }
    ]


def table(rows: list[dict]) -> str:
    keys = [k for k in rows[0] if k != "samples"]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="rounds of the speed table")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the memory file")
    parser.add_argument("--mtat-root", type=Path, help="synthetic MTAT for the prepare table")
    parser.add_argument("--old-tree", type=Path, help="checkout of the code to compare with")
    parser.add_argument("--prepare-repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="prepare's decoder processes")
    parser.add_argument("--skip", nargs="*", default=[], choices=["speed", "memory"])
    parser.add_argument("--out", type=Path, help="write results.json and results.md here")
    parser.add_argument(
        "--memory-child", nargs=2, metavar=("PATH", "DECODER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(Path(args.memory_child[0]), args.memory_child[1])
        return 0
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="decode_bench_") as tmp:
        workdir = Path(tmp)
        if "speed" not in args.skip:
            results["speed"] = time_decoders(inputs(workdir), args.repeats)
        if "memory" not in args.skip:
            results["memory"] = peak_memory(workdir, args.minutes)
    if args.mtat_root and args.old_tree:
        results["prepare"] = prepare_throughput(
            args.mtat_root, args.old_tree, args.prepare_repeats, args.workers
        )
    text = "\n\n".join(f"## {name}\n\n{table(rows)}" for name, rows in results.items())
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        (args.out / "results.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
