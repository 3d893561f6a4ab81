"""A committed benchmark run that a rerun can be diffed against, epoch by epoch.

``python -m training reference save --bench DIR --reference reports/demo_reference [--mtat
DIR --cache DIR]`` copies what a rerun must repeat out of a ``benchmark`` output: each model's
``log.csv``, the ``results.{md,csv}``, ``environment.json`` (:mod:`training.environment`) and,
with ``--mtat`` / ``--cache``, ``data_sha256.json`` (digests of the synthetic MP3s and of the
cached samples).

``python -m training reference compare --reference reports/demo_reference --bench DIR`` prints
every difference: environment (versions, CPU instruction set, thread count), data digests, the
first epoch whose logged losses or metrics differ, and the test figures; exit status 0 only when
the rerun repeats the reference bit for bit (timing columns excepted), 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from training.environment import IDENTITY_KEYS
from training.train import LOG_COLUMNS

TIMING_COLUMNS = ("seconds", "clips_per_s", "data_wait_share")
"""``log.csv`` columns that change from run to run (wall-clock), left out of the comparison."""
COMPARED_LOG_COLUMNS = tuple(c for c in LOG_COLUMNS if c not in TIMING_COLUMNS)
COMPARED_RESULTS = ("roc_auc", "pr_auc", "accuracy", "f1", "f1_tuned", "epochs", "best_epoch")
"""``results.csv`` columns that a seeded rerun repeats (not times or throughput)."""
DATA_PATTERNS = {"mtat": ("*.mp3", "annotations_final.csv"), "cache": ("audio/*/*.npy",)}
"""Files whose bytes make the data: the synthetic MTAT's MP3s and labels, the cached samples."""


def tree_digest(root: Path, patterns: tuple[str, ...]) -> dict[str, Any]:
    """sha256 over the sorted relative paths and bytes of the files matching ``patterns``."""
    files = sorted({p for pattern in patterns for p in root.rglob(pattern) if p.is_file()})
    h = hashlib.sha256()
    for path in files:
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return {"files": len(files), "sha256": h.hexdigest()}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def models_of(bench: Path) -> list[str]:
    """Model names in ``results.csv`` order."""
    return [row["model"] for row in read_csv(bench / "results.csv")]


def save(bench: Path, out: Path, mtat: Path | None = None, cache: Path | None = None) -> None:
    """Copy the comparable parts of the benchmark output ``bench`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("results.md", "results.csv", "environment.json"):
        shutil.copyfile(bench / name, out / name)
    for model in models_of(bench):
        (out / model).mkdir(exist_ok=True)
        shutil.copyfile(bench / "checkpoints" / model / "log.csv", out / model / "log.csv")
    roots = {k: v for k, v in (("mtat", mtat), ("cache", cache)) if v is not None}
    if roots:
        digests = {k: tree_digest(v, DATA_PATTERNS[k]) for k, v in roots.items()}
        (out / "data_sha256.json").write_text(json.dumps(digests, indent=2) + "\n")


def environment_differences(reference: dict[str, Any], rerun: dict[str, Any]) -> list[str]:
    """One line per identity key of the environment that differs."""
    return [
        f"environment {key}: reference {reference.get(key)!r}, rerun {rerun.get(key)!r}"
        for key in IDENTITY_KEYS
        if reference.get(key) != rerun.get(key)
    ]


def log_differences(model: str, reference: list[dict], rerun: list[dict]) -> list[str]:
    """The first epoch where the logged losses/metrics differ (exact text), or the epoch counts."""
    for ref, new in zip(reference, rerun, strict=False):
        changed = [c for c in COMPARED_LOG_COLUMNS if ref.get(c) != new.get(c)]
        if changed:
            detail = ", ".join(f"{c} {ref.get(c)} -> {new.get(c)}" for c in changed)
            return [f"{model} log.csv: epoch {ref['epoch']} differs first: {detail}"]
    if len(reference) != len(rerun):
        return [f"{model} log.csv: {len(reference)} epochs in the reference, {len(rerun)} now"]
    return []


def result_differences(reference: list[dict], rerun: list[dict]) -> list[str]:
    """One line per model whose test figures differ."""
    new = {row["model"]: row for row in rerun}
    lines = []
    for ref in reference:
        row = new.get(ref["model"])
        if row is None:
            lines.append(f"{ref['model']}: missing from the rerun's results.csv")
            continue
        changed = [c for c in COMPARED_RESULTS if ref[c] != row[c]]
        if changed:
            detail = ", ".join(f"{c} {ref[c]} -> {row[c]}" for c in changed)
            lines.append(f"{ref['model']} results: {detail}")
    return lines


def compare(
    reference: Path, bench: Path, mtat: Path | None = None, cache: Path | None = None
) -> list[str]:
    """Every difference between the saved ``reference`` and the benchmark output ``bench``."""
    lines = environment_differences(
        json.loads((reference / "environment.json").read_text()),
        json.loads((bench / "environment.json").read_text()),
    )
    data_file = reference / "data_sha256.json"
    if data_file.is_file():
        saved = json.loads(data_file.read_text())
        for key, root in (("mtat", mtat), ("cache", cache)):
            if root is not None and key in saved:
                now = tree_digest(root, DATA_PATTERNS[key])
                if now != saved[key]:
                    lines.append(f"data {key} {root}: reference {saved[key]}, rerun {now}")
    for model in models_of(reference):
        log_path = bench / "checkpoints" / model / "log.csv"
        if not log_path.is_file():
            lines.append(f"{model}: {log_path} is missing")
            continue
        lines += log_differences(model, read_csv(reference / model / "log.csv"), read_csv(log_path))
    lines += result_differences(
        read_csv(reference / "results.csv"), read_csv(bench / "results.csv")
    )
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("save", "compare"))
    parser.add_argument("--bench", type=Path, required=True, help="a benchmark --out folder")
    parser.add_argument("--reference", type=Path, required=True, help="the saved reference")
    parser.add_argument("--mtat", type=Path, default=None, help="the synthetic MTAT root")
    parser.add_argument("--cache", type=Path, default=None, help="the prepared cache")


def run(args: argparse.Namespace) -> int:
    if args.action == "save":
        save(args.bench, args.reference, args.mtat, args.cache)
        print(f"saved {args.bench} as the reference {args.reference}")
        return 0
    lines = compare(args.reference, args.bench, args.mtat, args.cache)
    for line in lines:
        print(line)
    if lines:
        print(f"{len(lines)} difference(s) from {args.reference}")
        return 1
    print(f"identical to {args.reference} (timing columns excepted)")
    return 0
