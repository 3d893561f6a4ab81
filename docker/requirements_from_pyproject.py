"""Print the requirements of pyproject.toml's base dependencies plus the named extras.

Used by the Dockerfile so dependency layers depend on pyproject.toml alone (one source of truth).
Usage: python docker/requirements_from_pyproject.py serve [train ...]
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def requirements(pyproject: Path, extras: list[str]) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise SystemExit(f"unknown extras {unknown}; valid: {sorted(optional)}")
    reqs = list(project.get("dependencies", []))
    for extra in extras:
        reqs += optional[extra]
    return list(dict.fromkeys(reqs))


if __name__ == "__main__":
    here = Path(__file__).resolve().parent.parent / "pyproject.toml"
    print("\n".join(requirements(here, sys.argv[1:])))
