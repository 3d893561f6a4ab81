"""Data sources of the study: real vs synthetic MTAT roots."""

from __future__ import annotations

import csv
from pathlib import Path

from training.constants import data_file
from training.study.config import REAL_LABELS_TABLE
from training.study.sources import detect_data_kind, read_labels_table


def test_data_kind_detection(tmp_path: Path) -> None:
    ids, _, y = read_labels_table(data_file(REAL_LABELS_TABLE))
    with open(data_file(REAL_LABELS_TABLE), newline="") as f:
        paths = [r["mp3_path"] for r in csv.DictReader(f, delimiter="\t")]
    kind, reason = detect_data_kind(tmp_path, ids[:50], paths[:50], y[:50])
    assert kind == "real" and "100.0%" in reason
    fake = [f"0/made_up-song-{i}.mp3" for i in range(50)]
    assert detect_data_kind(tmp_path, ids[:50], fake, y[:50])[0] == "synthetic"
