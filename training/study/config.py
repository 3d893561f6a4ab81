"""Settings of the study and the constants its parts share."""

from __future__ import annotations

from dataclasses import dataclass

MTAT_TOTAL_CLIPS = 25_863
"""Rows of the real ``annotations_final.csv`` (the packaged top-10 table keeps 16,470 of them)."""

REAL_LABELS_TABLE = "mtat_top10_labels.tsv"
SEED_PAIRS: tuple[tuple[str, str], ...] = (("slow", "fast"), ("classical", "techno"))
"""The seed's claim: these pairs separate without machine learning."""


@dataclass(frozen=True)
class AnalyzeConfig:
    """Knobs of the study (the CLI maps onto these)."""

    top_k: int = 10
    max_clips: int | None = None
    workers: int = 2
    seed: int = 0
    knn_k: int = 10
    tsne_max: int = 2000
    silhouette_max: int = 3000
    alpha: float = 0.05
    rare_lift: float = 0.2  # "almost never co-occur": lift below this and significant
    dpi: int = 100
    progress: bool = True
    batch_size: int = 32
