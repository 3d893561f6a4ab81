"""Pieces every in-process benchmark shares: the alternating rounds, the ratio of two sides, and
the end of a run (the load average after it, printed, and the JSON)."""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, TypeVar

Side = TypeVar("Side", bound=Hashable)


def alternating(
    measure: Callable[[Side], float], sides: Sequence[Side], rounds: int
) -> dict[Side, list[float]]:
    """``{side: [one figure per round]}``: each round measures every side once, in an order that
    rotates by one from round to round (two sides: A B, B A, A B, ...), so no side always runs
    first or right after the same neighbour."""
    times: dict[Side, list[float]] = {side: [] for side in sides}
    n = len(sides)
    for r in range(rounds):
        for side in (*sides[r % n :], *sides[: r % n]):
            times[side].append(measure(side))
    return times


def ratios(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """``(median, min, max)`` of the per-round ratios ``a[r] / b[r]``."""
    per_round = [x / y for x, y in zip(a, b, strict=True)]
    return statistics.median(per_round), min(per_round), max(per_round)


def finish(result: dict[str, Any], json_out: Path | None) -> dict[str, Any]:
    """Record ``load_avg_after`` in ``result`` (which holds ``load_avg_before``), print both, and
    write ``result`` to ``json_out`` if given; returns ``result``."""
    result["load_avg_after"] = os.getloadavg()
    print(f"load average before {result['load_avg_before']}, after {result['load_avg_after']}")
    if json_out:
        json_out.write_text(json.dumps(result, indent=1) + "\n")
    return result
