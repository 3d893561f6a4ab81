"""Report writing helpers: number formatting for markdown, CSV tables and JSON-safe values."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from training.study.labels import LabelStats


def fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    if p == 0.0:
        return "<1e-300"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def fmt_f(v: float, fmt: str = ".3f") -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "n/a"
    if isinstance(v, float) and np.isinf(v):
        return "-inf" if v < 0 else "inf"
    return format(v, fmt)


def write_pairs_csv(st: LabelStats, path: Path) -> None:
    keys = list(st.pairs[0]) if st.pairs else []
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for p in st.pairs:
            w.writerow(p)


def write_tests_csv(rows: list[dict[str, Any]], path: Path) -> None:
    if not rows:
        return
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["family", *[k for k in rows[0] if k != "family"]])
        w.writeheader()
        for r in rows:
            w.writerow(r)


def jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.ndarray):
        return jsonable(v.tolist())
    return v
