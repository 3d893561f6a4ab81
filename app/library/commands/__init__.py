"""Subcommands of ``python -m app library`` (registered in :mod:`app.library.cli`)."""
