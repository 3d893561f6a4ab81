"""Command line: ``python -m training <command> [options]``.

Each command lives in its own module that defines ``add_arguments(parser)`` and ``run(args)``;
modules are imported only when their command runs, so ``--help`` stays fast and torch is
imported only by the commands that need it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "synth": (
        "training.data.synth.command",
        "write a synthetic MTAT (MP3s + annotations_final.csv)",
    ),
    "prepare": ("training.data.prepare", "decode an MTAT root once into a 16 kHz training cache"),
    "train": ("training.train", "train one architecture under the shared learning setup"),
    "evaluate": ("training.evaluate", "evaluate a checkpoint on a split (per-tag metrics)"),
    "benchmark": ("training.benchmark", "train and compare several architectures"),
    "reference": (
        "training.reference",
        "save a benchmark run as the reference, or diff a rerun against it",
    ),
    "export": ("training.export", "export checkpoints to ONNX with model cards"),
    "analyze": ("training.study.analyze", "study labels, content and projections of a dataset"),
    "import-pretrained": (
        "training.import_pretrained",
        "rebuild the four ported MTAT taggers (won_*, pons_*) into models/ with cards",
    ),
    "add-embedding": (
        "training.embedding",
        "give model folders the ONNX output 'embedding' (penultimate features) and its card field",
    ),
    "calibrate": ("training.calibrate", "per-tag decision thresholds, cross-fitted, for a card"),
    "evaluate-models": (
        "training.evaluate_onnx",
        "evaluate exported models on a synthetic cache / labelled recordings into their cards",
    ),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the module of ``command`` (if given) is imported for its options."""
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if a in COMMANDS), None)
    args = build_parser(command).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return int(args._run(args) or 0)
