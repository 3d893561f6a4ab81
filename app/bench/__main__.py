"""Entry point of ``python -m app.bench``."""

from app.bench.cli import main

if __name__ == "__main__":
    main()
