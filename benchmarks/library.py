"""Library build benchmark: ``python -m app library build`` (local Ray) against
``python -m app tag --jobs 2`` on the same files, alternating in one run.

``python -m benchmarks.library --files 200 --rounds 3 --out reports/library`` makes (once, then
reuses ``--data``) ``--files`` 30-s clips: copies of the real recordings in tests/data and
synthetic clips written as MP3 (44.1 kHz, LAME via libsndfile) and WAV, then per round runs, in
an order that rotates from round to round:

* ``tag``: ``python -m app tag DIR --jobs 2 --format json`` (output discarded);
* ``ray2``: ``python -m app library build DIR --library NEW`` (local Ray, 2 actors);
* ``ray1``: the same with ``--actors 1``.

Each run is a fresh process (start-up, Ray start-up and model loads included: what a user
waits for) into a fresh library; clips/s = files / wall seconds. The ratios ray2/tag and
ray2/ray1 are taken per round and their medians reported, with the load average before each
run (a shared machine is noisy: compare ratios, not absolute figures).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np
import soundfile as sf

from tagging.audio import encode_mp3
from tagging.files import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
CLIP_S = 30.0
RATE = 44_100


def clip(seconds: float, sr: int, seed: int) -> np.ndarray:
    """(n,) float32: a chord of three partials with a drifting pitch, a beat and noise, so each
    clip is different music-like audio."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    base = 110.0 * 2 ** (rng.integers(0, 24) / 12)
    drift = 1 + 0.01 * np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * t)
    x = sum(np.sin(2 * np.pi * base * k * np.cumsum(drift) / sr) / k for k in (1, 2, 3))
    beat = (np.sin(2 * np.pi * rng.uniform(1.5, 3.0) * t) > 0.95) * rng.normal(size=t.shape)
    y = 0.2 * x + 0.3 * beat + 0.01 * rng.normal(size=t.shape)
    return (y / np.max(np.abs(y)) * 0.8).astype(np.float32)


def make_files(folder: Path, n: int) -> list[Path]:
    """``n`` files in ``folder`` (reused when already there): copies of the real recordings (one
    in five), the rest synthetic 30-s clips, three MP3 for one WAV."""
    folder.mkdir(parents=True, exist_ok=True)
    real = sorted((DATA / "real").glob("*.ogg")) + sorted(DATA.glob("*.mp3"))
    files = []
    for i in range(n):
        if i % 5 == 0:
            src = real[(i // 5) % len(real)]
            path = folder / f"{i:04d}_{src.name}"
            if not path.exists():
                shutil.copy(src, path)
        else:
            path = folder / f"{i:04d}_synth.{'wav' if i % 4 == 0 else 'mp3'}"
            if not path.exists():
                x = clip(CLIP_S, RATE, seed=i)
                if path.suffix == ".wav":
                    sf.write(path, x, RATE, subtype="PCM_16")
                else:
                    encode_mp3(x, path, RATE)
        files.append(path)
    return files


def commands(data: Path, library: Path) -> dict[str, list[str]]:
    app = [sys.executable, "-m", "app"]
    build = [*app, "library", "build", str(data), "--library", str(library)]
    return {
        "tag": [*app, "tag", str(data), "--jobs", "2", "--format", "json"],
        "ray2": build,
        "ray1": [*build, "--actors", "1"],
    }


def run(cmd: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one command (its output discarded; a failure stops the benchmark)."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr.decode()}")
    return wall


def bench(data: Path, n: int, rounds: int, names: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TAGGER_PROVIDERS": "cpu"}
    runs = []
    for r in range(rounds):
        turn = r % len(names)
        order = names[turn:] + names[:turn]  # rotate: each variant goes first in turn
        for name in order:
            with tempfile.TemporaryDirectory(prefix="mtat-library-bench-") as tmp:
                cmd = commands(data, Path(tmp) / "library")[name]
                load = os.getloadavg()[0]
                wall = run(cmd, env)
            runs.append({"round": r, "variant": name, "wall_s": wall, "load1": load})
            runs[-1]["clips_per_s"] = n / wall
            print(f"round {r} {name}: {wall:.1f} s, {n / wall:.2f} clips/s, load {load:.2f}")
    per_round = {
        r: {x["variant"]: x["clips_per_s"] for x in runs if x["round"] == r} for r in range(rounds)
    }

    def ratio(a: str, b: str) -> float | None:
        if a not in names or b not in names:
            return None
        return median(p[a] / p[b] for p in per_round.values())

    return {
        "files": n,
        "rounds": rounds,
        "runs": runs,
        "median_clips_per_s": {
            v: median(x["clips_per_s"] for x in runs if x["variant"] == v) for v in names
        },
        "median_ratio_ray2_over_tag": ratio("ray2", "tag"),
        "median_ratio_ray2_over_ray1": ratio("ray2", "ray1"),
        "load1_min_max": [min(x["load1"] for x in runs), max(x["load1"] for x in runs)],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "command": " ".join(["python -m benchmarks.library", *sys.argv[1:]]),
    }


def markdown(result: dict) -> str:
    m = result["median_clips_per_s"]
    label = {
        "tag": "`python -m app tag --jobs 2`",
        "ray2": "`library build` (local Ray, 2 actors)",
        "ray1": "`library build --actors 1`",
    }
    ratios = [
        f"{what}: **{result[key]:.2f}x**"
        for key, what in (
            ("median_ratio_ray2_over_tag", "2 actors / tag"),
            ("median_ratio_ray2_over_ray1", "2 actors / 1 actor"),
        )
        if result[key] is not None
    ]
    lines = [
        f"# Library build vs `python -m app tag --jobs 2` ({result['files']} files)",
        "",
        f"Command: `{result['command']}`; {result['rounds']} rounds, order rotating; "
        f"{result['machine']['cpus']} CPUs; 1-min load average "
        f"{result['load1_min_max'][0]:.2f}..{result['load1_min_max'][1]:.2f} before the runs.",
        "",
        "| variant | median clips/s |",
        "|---|---|",
        *(f"| {label[v]} | {m[v]:.2f} |" for v in m),
        "",
        f"Median ratio per round, {'; '.join(ratios)}.",
        "",
        "| round | variant | wall s | clips/s | load1 |",
        "|---|---|---|---|---|",
        *(
            f"| {x['round']} | {x['variant']} | {x['wall_s']:.1f} | {x['clips_per_s']:.2f} "
            f"| {x['load1']:.2f} |"
            for x in result["runs"]
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(tempfile.gettempdir()) / "mtat-library-bench-files",
        help="folder of the generated files (made once, reused)",
    )
    parser.add_argument(
        "--variants", default="tag,ray2,ray1", help="comma-separated, of tag, ray2, ray1"
    )
    parser.add_argument("--out", type=Path, help="write STEM.json and STEM.md here")
    parser.add_argument("--stem", default="build", help="file names under --out")
    args = parser.parse_args()
    data = args.data / str(args.files)
    make_files(data, args.files)
    names = [v for v in args.variants.split(",") if v]
    if not names or set(names) - {"tag", "ray2", "ray1"}:
        parser.error("--variants: a comma-separated list of tag, ray2, ray1")
    result = bench(data, args.files, args.rounds, names)
    text = markdown(result)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out / f"{args.stem}.json", json.dumps(result, indent=2) + "\n")
        atomic_write_text(args.out / f"{args.stem}.md", text)


if __name__ == "__main__":
    main()
