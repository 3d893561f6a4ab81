"""Medians of the alternating rounds, the top-3 agreement, the table."""

from __future__ import annotations

import numpy as np


def summarize(rounds: list[dict[str, float]], package: str) -> dict:
    """Median clips/s of each side and the median of its per-round ratio to ``package``."""
    sides = {}
    for side in rounds[0]:
        v = [r[side] for r in rounds]
        ratio = [r[side] / r[package] for r in rounds]
        sides[side] = {
            "clips_per_s_median": float(np.median(v)),
            "clips_per_s_range": [float(min(v)), float(max(v))],
            "ratio_to_package_median": float(np.median(ratio)),
            "ratio_range": [float(min(ratio)), float(max(ratio))],
        }
    return {"sides": sides, "per_round": rounds}


def top3(p: np.ndarray, labels: list[str]) -> list[str]:
    return [labels[i] for i in np.argsort(-p, kind="stable")[:3]]


def agreement(package: dict[str, np.ndarray], served: dict[str, np.ndarray], labels: list[str]):
    """Per clip: both top-3 lists (ordered), whether they are equal, max |Δp| over 50 tags."""
    out = {}
    for clip, p in package.items():
        q = served[clip]
        out[clip] = {
            "package_top3": top3(p, labels),
            "served_top3": top3(q, labels),
            "same_top3": top3(p, labels) == top3(q, labels),
            "max_abs_dp": round(float(np.abs(p - q).max()), 4),
        }
    return out


def print_table(result: dict) -> None:
    print("\n| side | clips/s (median, range) | served / package (median, range) |")
    print("|---|---|---|")
    for side, s in result["sides"].items():
        lo, hi = s["clips_per_s_range"]
        rlo, rhi = s["ratio_range"]
        print(f"| {side} | {s['clips_per_s_median']:.2f} ({lo:.2f}-{hi:.2f}) | "
              f"{s['ratio_to_package_median']:.2f}x ({rlo:.2f}-{rhi:.2f}) |")  # fmt: skip
    for model, clips in result["agreement"].items():
        same = sum(c["same_top3"] for c in clips.values())
        worst = max(c["max_abs_dp"] for c in clips.values())
        print(f"{model}: same top 3 as the package on {same}/{len(clips)} clips, "
              f"max |dp| {worst}")  # fmt: skip
    print(f"load average before {result['load_avg_before']}, after {result['load_avg_after']}")
