"""Entry point of ``python -m benchmarks.package``."""

from benchmarks.package.cli import main

if __name__ == "__main__":
    main()
