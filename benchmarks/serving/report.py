"""The figures of one concurrency level, the printed table and the final JSON summary."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Level:
    """What one concurrency level measured: served, floor, server figures and their ratios."""

    concurrency: int
    requests: int
    repeats: int
    clips_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: dict[str, int]
    floor_clips_per_s: float
    floor_p50_ms: float | None
    overhead_ratio: float
    latency_ratio: float | None
    mean_batch: float
    mean_queue_ms: float
    rss_after_warmup_mb: float
    rss_after_mb: float
    peak_rss_mb: float
    rss_quartiles_mb: list[float]
    server_cpu_ms: float  # server CPU time per request (all threads)
    client_cpu_ms: float  # load generator CPU time per request (it shares the cores)
    floor_cpu_ms: float  # CPU time per clip of the floor (all threads of this process)
    onnx_vs_torch: float | None = None


HEADER = (
    f"{'conc':>4} {'req':>5} {'clips/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
    f"{'floor/s':>8} {'floor p50':>9} {'overhead':>8} {'p50/floor':>9} {'batch':>5} "
    f"{'queue ms':>8} {'RSS warm':>8} {'RSS end':>8} {'RSS peak':>8} {'onnx/torch':>10} "
    f"{'cpu ms srv/cli/floor':>20} errors"
)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or not np.isfinite(value) else format(value, spec)


def format_row(lv: Level) -> str:
    return (
        f"{lv.concurrency:>4} {lv.requests:>5} {lv.clips_per_s:>8.2f} {lv.p50_ms:>8.0f} "
        f"{lv.p95_ms:>8.0f} {lv.p99_ms:>8.0f} {lv.floor_clips_per_s:>8.2f} "
        f"{_fmt(lv.floor_p50_ms, '>9.0f'):>9} {lv.overhead_ratio:>8.2f} "
        f"{_fmt(lv.latency_ratio, '>9.2f'):>9} {lv.mean_batch:>5.1f} {lv.mean_queue_ms:>8.1f} "
        f"{lv.rss_after_warmup_mb:>8.0f} {lv.rss_after_mb:>8.0f} {lv.peak_rss_mb:>8.0f} "
        f"{_fmt(lv.onnx_vs_torch, '>10.2f'):>10} "
        f"{f'{lv.server_cpu_ms:.0f}/{lv.client_cpu_ms:.0f}/{lv.floor_cpu_ms:.0f}':>20} "
        f"{lv.errors or ''}"
    )


def summarize(results: dict[str, dict]) -> dict[str, Any]:
    """The final JSON line: first model's highest concurrency at the top, everything nested."""
    models: dict[str, Any] = {}
    for name, res in results.items():
        levels: list[Level] = res["levels"]
        by_c = {str(lv.concurrency): asdict(lv) for lv in levels}
        top = asdict(levels[-1])
        one = next((lv for lv in levels if lv.concurrency == 1), None)
        sixteen = next((lv for lv in levels if lv.concurrency == 16), None)
        models[name] = {
            **{k: top[k] for k in KEYS},
            "concurrency": top["concurrency"],
            "by_concurrency": by_c,
            "torch": res["torch"],
            "load_avg": res["load_avg"],
            "goals": {
                "c16_within_10pct_of_floor": None
                if sixteen is None
                else sixteen.overhead_ratio <= 1.1,
                "c1_p50_at_most_1.3x_floor": None if one is None else one.latency_ratio <= 1.3,
                "rss_at_most_600mb": max(lv.peak_rss_mb for lv in levels) <= 600,
            },
        }
    first = next(iter(models.values()))
    return {**{k: first[k] for k in (*KEYS, "concurrency", "by_concurrency")}, "models": models}


KEYS = (
    "clips_per_s",
    "p50_ms",
    "p99_ms",
    "floor_clips_per_s",
    "overhead_ratio",
    "onnx_vs_torch",
    "peak_rss_mb",
    "rss_after_warmup_mb",
    "rss_after_mb",
)


def _finite(obj: Any) -> Any:
    """NaN/inf -> None, so the JSON line is strict JSON."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def write_summary(results: dict[str, dict], json_out: Path | None) -> dict[str, Any]:
    """Print the summary as the last line (strict JSON), and write it to ``json_out`` if given."""
    summary = _finite(summarize(results))
    if json_out is not None:
        json_out.write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary), flush=True)
    return summary
