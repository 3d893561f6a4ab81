"""The benchmark's summary: the first model's highest level on top, goals, strict JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.serving.report import HEADER, Level, format_row, write_summary
from benchmarks.serving.runner import batcher_figures


def level(c: int, **changes: object) -> Level:
    figures: dict = {
        "concurrency": c, "requests": 8, "repeats": 1, "clips_per_s": 10.0 * c, "p50_ms": 100.0,
        "p95_ms": 120.0, "p99_ms": 130.0, "errors": {}, "floor_clips_per_s": 10.5 * c,
        "floor_p50_ms": 90.0 if c == 1 else None, "overhead_ratio": 1.05,
        "latency_ratio": 100 / 90 if c == 1 else None, "mean_batch": 2.0, "mean_queue_ms": 1.0,
        "rss_after_warmup_mb": 200.0, "rss_after_mb": 210.0, "peak_rss_mb": 250.0,
        "rss_quartiles_mb": [205.0, 206.0, 208.0, 210.0], "server_cpu_ms": 50.0,
        "client_cpu_ms": 5.0, "floor_cpu_ms": 45.0,
    }  # fmt: skip
    return Level(**{**figures, **changes})


def test_summary_puts_the_first_models_highest_level_on_top(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = {
        "a": {"levels": [level(1), level(16)], "torch": {"onnx_vs_torch": None}, "load_avg": [1]},
        "b": {
            "levels": [level(4, p99_ms=float("nan"), peak_rss_mb=700.0)],
            "torch": {"onnx_vs_torch": 2.0},
            "load_avg": [2],
        },
    }
    out = tmp_path / "bench.json"
    summary = write_summary(results, out)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == summary
    assert json.loads(out.read_text()) == summary
    assert summary["concurrency"] == 16 and summary["clips_per_s"] == 160.0
    assert set(summary["by_concurrency"]) == {"1", "16"}
    assert summary["models"]["a"]["goals"] == {
        "c16_within_10pct_of_floor": True,
        "c1_p50_at_most_1.3x_floor": True,
        "rss_at_most_600mb": True,
    }
    b = summary["models"]["b"]
    assert b["p99_ms"] is None  # NaN -> null: the line is strict JSON
    assert b["goals"]["rss_at_most_600mb"] is False
    assert b["goals"]["c16_within_10pct_of_floor"] is None  # no c = 16 level


def test_table_row_lines_up_with_the_header() -> None:
    row = format_row(level(4))
    assert len(row) == len(HEADER) - len("errors")  # every column as wide as its heading
    assert row.split()[7] == "-"  # no floor latency above c = 1
    assert format_row(level(1, errors={"503": 2})).endswith(" {'503': 2}")


def test_batcher_figures_are_deltas_between_two_scrapes() -> None:
    before = {"tagger_batch_size_sum": 10.0, "tagger_batch_size_count": 5.0}
    after = {
        "tagger_batch_size_sum": 40.0,
        "tagger_batch_size_count": 15.0,
        "tagger_inference_queue_duration_seconds_sum": 0.5,
        "tagger_inference_queue_duration_seconds_count": 100.0,
    }
    assert batcher_figures(before, after) == pytest.approx((3.0, 5.0))
    assert batcher_figures(after, after) == (0.0, 0.0)  # no runs in between: no division by 0
