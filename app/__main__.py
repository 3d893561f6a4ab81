"""``python -m app tag PATH...`` (tag audio files in process) and ``python -m app library ...``
(build and query a tagged library): see :mod:`app.cli`."""

from app.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
