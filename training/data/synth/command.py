"""The ``synth`` command: ``python -m training synth --out DIR --clips N [--seed S] ...``."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.data.synth.plan import SynthConfig
from training.data.synth.writer import synthesize


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m training synth``."""
    parser.add_argument("--out", type=Path, required=True, help="output MTAT root")
    parser.add_argument("--clips", type=int, required=True, help="number of clips")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=29.1, help="clip length (MTAT: 29.1)")
    parser.add_argument("--workers", type=int, default=2, help="processes")
    parser.add_argument("--label-drop", type=float, default=SynthConfig.label_drop)
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    """CLI entry point: write the dataset and print its summary."""
    summary = synthesize(
        args.out,
        args.clips,
        args.seed,
        seconds=args.seconds,
        workers=args.workers,
        progress=not args.no_progress,
        config=SynthConfig(label_drop=args.label_drop),
    )
    print(summary.describe())
    return 0
