"""Snapshot of ``POST /predict`` for every model on a set of audio files, and its comparison.

Used to show that a refactor changes no answer: take a snapshot before, one after, compare.

    python scripts/predict_snapshot.py take OUT.json FILE_OR_DIR...   [--models DIR]
    python scripts/predict_snapshot.py compare BEFORE.json AFTER.json [--tol 1e-6]

Every model in the models directory tags every file through the real HTTP app (in process,
starlette's TestClient), with ``all_tags=true`` and ``segments=true``: clip probabilities,
segment probabilities, duration and chunk counts are recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

AUDIO = {".mp3", ".ogg", ".wav", ".flac", ".m4a", ".opus"}


def _files(args: list[str]) -> list[Path]:
    out: list[Path] = []
    for a in args:
        p = Path(a)
        out += sorted(f for f in p.iterdir() if f.suffix in AUDIO) if p.is_dir() else [p]
    return out


def take(out: Path, paths: list[str], models: Path | None) -> int:
    if models is not None:
        os.environ["TAGGER_MODELS_DIR"] = str(models.resolve())
    from fastapi.testclient import TestClient

    from app.main import create_app

    snapshot: dict[str, dict[str, object]] = {}
    with TestClient(create_app()) as client:
        names = [m["name"] for m in client.get("/models").json()["models"]]
        for name in names:
            for f in _files(paths):
                r = client.post(
                    "/predict",
                    params={"model": name, "all_tags": "true", "segments": "true"},
                    files={"file": (f.name, f.read_bytes())},
                )
                r.raise_for_status()
                body = r.json()
                snapshot[f"{name}/{f.name}"] = {
                    "tags": {t["tag"]: t["probability"] for t in body["tags"]},
                    "segments": [s["probabilities"] for s in body.get("segments") or []],
                    "duration_s": body["duration_s"],
                    "n_chunks": body["n_chunks"],
                }
                print(name, f.name, file=sys.stderr)
    out.write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n")
    print(f"{len(snapshot)} model x file answers -> {out}")
    return 0


def compare(before: Path, after: Path, tol: float) -> int:
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    if set(a) != set(b):
        print(
            f"different cases: only before {sorted(set(a) - set(b))}, "
            f"only after {sorted(set(b) - set(a))}"
        )
        return 1
    worst, bad = 0.0, []
    for key in sorted(a):
        x, y = a[key], b[key]
        if (x["n_chunks"], x["duration_s"]) != (y["n_chunks"], y["duration_s"]):
            bad.append(
                f"{key}: chunks/duration {x['n_chunks']}/{x['duration_s']} vs "
                f"{y['n_chunks']}/{y['duration_s']}"
            )
        if set(x["tags"]) != set(y["tags"]) or len(x["segments"]) != len(y["segments"]):
            bad.append(f"{key}: tag set or segment count differs")
            continue
        diffs = [abs(x["tags"][t] - y["tags"][t]) for t in x["tags"]]
        for sx, sy in zip(x["segments"], y["segments"], strict=True):
            diffs += [abs(sx[t] - sy[t]) for t in sx]
        worst = max(worst, max(diffs))
        if max(diffs) > tol:
            bad.append(f"{key}: max |dp| {max(diffs):.3g} > {tol:g}")
    print(f"{len(a)} cases, max |dp| over clip and segment probabilities: {worst:.3g}")
    for line in bad:
        print("DIFF", line)
    return 1 if bad else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("take")
    t.add_argument("out", type=Path)
    t.add_argument("paths", nargs="+")
    t.add_argument("--models", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--tol", type=float, default=1e-6)
    args = p.parse_args()
    if args.cmd == "take":
        return take(args.out, args.paths, args.models)
    return compare(args.before, args.after, args.tol)


if __name__ == "__main__":
    raise SystemExit(main())
