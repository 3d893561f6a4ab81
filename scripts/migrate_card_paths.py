"""One-off migration: rewrite absolute paths in existing model cards as the exporter now does.

Cards exported before ``training.export.portable_paths`` carried the build machine's absolute
paths (``"dataset": {"cache": "/.../runs/demo/cache"}``). This rewrites ``<models>/*/card.json``
in place with the same function (idempotent: a second run changes nothing); nothing is
retrained and no other field changes.

    python scripts/migrate_card_paths.py [models ...]   # default: the repository's models/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from training.export import _write_json_atomic, portable_paths

REPO = Path(__file__).resolve().parent.parent


def migrate(models_dir: Path) -> list[Path]:
    """Rewrite every card under ``models_dir`` that has an absolute path; the changed files."""
    changed = []
    for card_path in sorted(models_dir.glob("*/card.json")):
        card = json.loads(card_path.read_text(encoding="utf-8"))
        portable = portable_paths(card)
        if portable != card:
            _write_json_atomic(portable, card_path)
            changed.append(card_path)
    return changed


def main(argv: list[str]) -> int:
    for folder in [Path(a) for a in argv] or [REPO / "models"]:
        for path in migrate(folder):
            print(f"rewrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
