"""Cluster quality of tags in a feature space: silhouettes (Rousseeuw 1987) and k-NN label purity."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np


def song_key(mp3_path: str) -> str:
    """The song of an MTAT clip: its path without the trailing ``-<start>-<end>.mp3``."""
    return re.sub(r"-\d+-\d+\.mp3$", "", mp3_path)


def _neighbours(z: np.ndarray, k: int, groups: np.ndarray | None) -> np.ndarray:
    """``(N, k)`` indices of each row's k nearest rows (Euclidean), self excluded and, with
    ``groups``, rows of the same group excluded; -1 pads rows with fewer candidates."""
    from sklearn.neighbors import NearestNeighbors

    n = len(z)
    extra = 0
    if groups is not None:
        extra = int(np.unique(groups, return_counts=True)[1].max()) - 1
    m = min(n, k + 1 + extra)
    _, idx = NearestNeighbors(n_neighbors=m).fit(z).kneighbors(z)
    out = np.full((n, k), -1, dtype=np.int64)
    for i in range(n):
        cand = idx[i][idx[i] != i]
        if groups is not None:
            cand = cand[groups[cand] != groups[i]]
        cand = cand[:k]
        out[i, : len(cand)] = cand
    return out


def _purity(lab: np.ndarray, nbr: np.ndarray) -> float:
    """Mean over positive rows of the positive share among their (valid) neighbours."""
    rows = nbr[lab == 1]
    valid = rows >= 0
    shares = [lab[r[v]].mean() for r, v in zip(rows, valid, strict=True) if v.any()]
    return float(np.mean(shares)) if shares else math.nan


def cluster_quality(
    z: np.ndarray,
    y: np.ndarray,
    tags: Sequence[str],
    k: int = 10,
    silhouette_max: int = 3000,
    seed: int = 0,
    groups: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Per tag: silhouette of the present/absent partition and k-NN purity against the base rate.

    ``knn_purity`` = mean, over clips with the tag, of the share of their ``k`` nearest
    neighbours (self excluded, Euclidean in ``z``) that also have it; ``base_rate`` = the share
    a random neighbour would have, (n_pos - 1) / (N - 1); ``enrichment`` = purity / base rate
    (1 = no structure). With ``groups`` (song of each clip) the ``*_xsong`` keys repeat this
    with neighbours from the clip's own song excluded (segments of one song share tags and
    sound, so they would inflate purity); the base rate then excludes the own song too.
    Silhouette in [-1, 1] (0 = no cluster structure), on at most ``silhouette_max`` clips drawn
    with ``seed``.
    """
    from sklearn.metrics import silhouette_score

    n = len(z)
    kk = min(k, n - 1)
    nbr = _neighbours(z, kk, None) if kk >= 1 else None
    g = None
    nbr_x = None
    if groups is not None and kk >= 1:
        _, g = np.unique(np.asarray(groups), return_inverse=True)
        nbr_x = _neighbours(z, kk, g)
    out = []
    for j, t in enumerate(tags):
        lab = (y[:, j] > 0).astype(int)
        n_pos = int(lab.sum())
        row: dict[str, Any] = {"tag": t, "n_pos": n_pos, "prevalence": n_pos / max(n, 1)}
        if 2 <= n_pos <= n - 2:
            sample = min(silhouette_max, n)
            row["silhouette"] = float(
                silhouette_score(
                    z, lab, sample_size=sample if sample < n else None, random_state=seed
                )
            )
        else:
            row["silhouette"] = math.nan
        row.update(knn_purity=math.nan, base_rate=math.nan, enrichment=math.nan)
        row.update(knn_purity_xsong=math.nan, base_rate_xsong=math.nan, enrichment_xsong=math.nan)
        if nbr is not None and n_pos >= 2:
            purity = _purity(lab, nbr)
            base = (n_pos - 1) / (n - 1)
            row.update(knn_purity=purity, base_rate=base, enrichment=purity / base)
        if nbr_x is not None and g is not None and n_pos >= 1:
            pos_in = np.bincount(g, weights=lab, minlength=g.max() + 1)  # positives per song
            size = np.bincount(g, minlength=g.max() + 1)
            pi = lab == 1
            other = size[g[pi]] < n
            if other.any():
                base_x = float(np.mean((n_pos - pos_in[g[pi]][other]) / (n - size[g[pi]][other])))
                purity_x = _purity(lab, nbr_x)
                row.update(
                    knn_purity_xsong=purity_x,
                    base_rate_xsong=base_x,
                    enrichment_xsong=purity_x / base_x if base_x > 0 else math.nan,
                )
        out.append(row)
    return out
