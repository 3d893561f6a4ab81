"""``python -m app library COMMAND``: the library's command line, a registry of subcommands.

Each module of :data:`SUBCOMMANDS` has ``register(subparsers)``, which adds its parser and sets
``run`` (``args -> exit status``) as the parser's default. The modules import Ray and LanceDB
only when their command runs, so ``python -m app tag`` never pays for them.
"""

from __future__ import annotations

import argparse
import importlib

SUBCOMMANDS: tuple[str, ...] = (
    "app.library.commands.build",
    "app.library.commands.stats",
    "app.library.commands.similar",
    "app.library.commands.search",
    "app.library.commands.index",
)
"""Modules with ``register(subparsers)``, in the order ``--help`` lists them."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``library`` command and its subcommands."""
    library = sub.add_parser("library", help="build and query a tagged library (Ray, LanceDB)")
    commands = library.add_subparsers(dest="library_command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(commands)


def run(args: argparse.Namespace) -> int:
    return args.run(args)
