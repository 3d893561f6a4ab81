"""Dataset study: labels, content against labels, projections (command: ``analyze``).

``python -m training analyze --mtat-root DIR --out DIR [--checkpoint PATH] [--labels-only]
[--max-clips N]`` writes ``report.md`` with PNG figures (and ``summary.json``,
``descriptors.csv``, ``label_pairs.csv``, ``descriptor_tests.csv``) into ``--out``.
``--real-labels`` (the packaged real MTAT top-10 label table) or ``--labels-table PATH`` run the
label part alone without audio.

Three parts:

1. Labels: tag frequencies, label cardinality, co-occurrence counts, P(B|A), lift and PMI with
   Fisher's exact test per pair and Benjamini-Hochberg correction (Benjamini & Hochberg 1995).
2. Content against labels: per-clip descriptors (:mod:`training.descriptors`) per tag, and the
   seed's claim that slow/fast and classical/techno separate without machine learning, tested
   with Mann-Whitney U (AUC = U / (n1 n2), rank-biserial effect, Holm correction, Holm 1979).
3. Projections: PCA and t-SNE (van der Maaten & Hinton 2008) of standardized descriptors (and of
   a checkpoint's penultimate features), with silhouette scores (Rousseeuw 1987) of each tag's
   partition and k-NN label purity against the base rate.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import re
import shlex
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from training.constants import EVAL_CHUNKS, SAMPLE_RATE, data_file
from training.data.mtat import SYNTHETIC_MARKER
from training.descriptors import DESCRIPTOR_NAMES, DESCRIPTOR_UNITS, SCALAR_DESCRIPTORS

log = logging.getLogger(__name__)

MTAT_TOTAL_CLIPS = 25_863
"""Rows of the real ``annotations_final.csv`` (the packaged top-10 table keeps 16,470 of them)."""

REAL_LABELS_TABLE = "mtat_top10_labels.tsv"
SEED_PAIRS: tuple[tuple[str, str], ...] = (("slow", "fast"), ("classical", "techno"))
"""The seed's claim: these pairs separate without machine learning."""

ATTRIBUTION = (
    "MagnaTagATune (Law, West, Mandel, Bay & Downie 2009, *Evaluation of algorithms using games: "
    "the case of music tagging*, ISMIR), licensed CC BY-NC-SA 3.0; the top-10 label table comes "
    "via Robak132/LabelThisSongForMe (see `training/data/SOURCES.md`)."
)
SYNTH_MARKERS = (SYNTHETIC_MARKER,)
"""Files whose presence in an MTAT root marks it as synthetic (written by ``training.synth``)."""


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


# --------------------------------------------------------------------------------------------
# Multiple-comparison corrections
# --------------------------------------------------------------------------------------------


def _adjust_finite(p: Sequence[float] | np.ndarray, adjust_sorted) -> np.ndarray:
    """Apply ``adjust_sorted`` (ascending finite p-values -> adjusted values) to the finite
    entries of a flat array, capped at 1, in the original order; NaNs stay NaN."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    v = p[ok]
    if len(v) == 0:
        return out
    order = np.argsort(v)
    q = np.empty(len(v))
    q[order] = np.minimum(adjust_sorted(v[order]), 1.0)
    out[ok] = q
    return out


def benjamini_hochberg(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) of a flat array; NaNs stay NaN."""

    def bh(v: np.ndarray) -> np.ndarray:
        m = len(v)
        ranked = v * m / np.arange(1, m + 1)
        return np.minimum.accumulate(ranked[::-1])[::-1]  # monotone from the largest p down

    return _adjust_finite(p, bh)


def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values of a flat array; NaNs stay NaN."""
    return _adjust_finite(p, lambda v: np.maximum.accumulate(v * (len(v) - np.arange(len(v)))))


# --------------------------------------------------------------------------------------------
# Label statistics
# --------------------------------------------------------------------------------------------


@dataclass
class LabelStats:
    """Every label statistic of the report; matrices are ``(K, K)`` indexed ``[A, B]``.

    Probabilities use ``n_total`` clips as the population (clips absent from a label table
    carry none of its tags). ``cond[a, b] = P(B | A)``; ``lift = P(A,B) / (P(A) P(B))``;
    ``pmi = log2(lift)`` in bits (``-inf`` for pairs that never co-occur); ``p_values`` from
    Fisher's exact test (two-sided) on each pair's 2x2 table; ``q_values`` BH-adjusted over the
    K(K-1)/2 pairs. Diagonals of the pair matrices are NaN except ``cooc`` (= tag counts).
    """

    tags: tuple[str, ...]
    n_rows: int
    n_total: int
    counts: np.ndarray
    cooc: np.ndarray
    cond: np.ndarray
    expected: np.ndarray
    lift: np.ndarray
    pmi: np.ndarray
    odds_ratio: np.ndarray
    p_values: np.ndarray
    q_values: np.ndarray
    cardinality: dict[int, int]
    pairs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mean_cardinality(self) -> float:
        return sum(k * v for k, v in self.cardinality.items()) / max(self.n_total, 1)

    @property
    def share_none(self) -> float:
        return self.cardinality.get(0, 0) / max(self.n_total, 1)


def label_statistics(
    y: np.ndarray, tags: Sequence[str], n_total: int | None = None, alpha: float = 0.05
) -> LabelStats:
    """Label statistics of a 0/1 matrix ``y (N, K)``; ``n_total >= N`` counts unlisted clips.

    Raises ``ValueError`` on a non-binary matrix, a tag-count mismatch or ``n_total < N``.
    """
    from scipy.stats import fisher_exact

    y = np.asarray(y)
    if y.ndim != 2 or y.shape[1] != len(tags):
        raise ValueError(f"label matrix shape {y.shape} does not match {len(tags)} tags")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("label matrix must hold only 0 and 1")
    y = y.astype(np.int64)
    n_rows, k = y.shape
    n_total = n_rows if n_total is None else int(n_total)
    if n_total < n_rows:
        raise ValueError(f"n_total={n_total} is smaller than the {n_rows} labelled rows")
    if n_total == 0:
        raise ValueError("no clips to analyze")
    counts = y.sum(axis=0)  # (K,)
    cooc = y.T @ y  # (K, K)
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = cooc / counts[:, None]  # P(B|A) = n_AB / n_A, row A
        expected = np.outer(counts, counts) / n_total  # n_A n_B / N
        lift = cooc / expected
        pmi = np.log2(lift)
    odds = np.full((k, k), np.nan)
    pv = np.full((k, k), np.nan)
    pairs: list[dict[str, Any]] = []
    for a in range(k):
        for b in range(a + 1, k):
            n11 = int(cooc[a, b])
            n10 = int(counts[a]) - n11
            n01 = int(counts[b]) - n11
            n00 = n_total - n11 - n10 - n01
            res = fisher_exact([[n11, n10], [n01, n00]], alternative="two-sided")
            odds[a, b] = odds[b, a] = float(res.statistic)
            pv[a, b] = pv[b, a] = float(res.pvalue)
    iu = np.triu_indices(k, 1)
    q_flat = benjamini_hochberg(pv[iu])
    qv = np.full((k, k), np.nan)
    qv[iu] = q_flat
    qv[(iu[1], iu[0])] = q_flat
    for a, b in zip(*iu, strict=True):
        pairs.append(
            {
                "a": tags[a],
                "b": tags[b],
                "n_a": int(counts[a]),
                "n_b": int(counts[b]),
                "n_ab": int(cooc[a, b]),
                "expected": float(expected[a, b]),
                "p_b_given_a": float(cond[a, b]),
                "p_a_given_b": float(cond[b, a]),
                "lift": float(lift[a, b]),
                "pmi": float(pmi[a, b]),
                "odds_ratio": float(odds[a, b]),
                "p": float(pv[a, b]),
                "q": float(qv[a, b]),
                "significant": bool(qv[a, b] < alpha),
            }
        )
    for mat in (lift, pmi, expected):
        np.fill_diagonal(mat, np.nan)
    cond_off = cond.copy()
    np.fill_diagonal(cond_off, np.nan)
    per_clip = y.sum(axis=1)
    card = {int(c): int(n) for c, n in zip(*np.unique(per_clip, return_counts=True), strict=True)}
    card[0] = card.get(0, 0) + (n_total - n_rows)
    card = dict(sorted(card.items()))
    return LabelStats(
        tags=tuple(tags),
        n_rows=n_rows,
        n_total=n_total,
        counts=counts,
        cooc=cooc,
        cond=cond_off,
        expected=expected,
        lift=lift,
        pmi=pmi,
        odds_ratio=odds,
        p_values=pv,
        q_values=qv,
        cardinality=card,
        pairs=pairs,
    )


def read_labels_table(path: str | Path) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Read a tab-separated label table (``clip_id``, tag columns, ``mp3_path``[, other]).

    Returns ``(clip_ids (N,), tags, labels (N, K) int)``. Columns other than ``clip_id``,
    ``mp3_path`` and ``robak_split`` are tags.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label table not found: {path}")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    if not rows or "clip_id" not in rows[0]:
        raise ValueError(f"{path}: expected a tab-separated header with a clip_id column")
    header = rows[0]
    non_tags = {"clip_id", "mp3_path", "robak_split"}
    tag_idx = [i for i, h in enumerate(header) if h not in non_tags]
    if not tag_idx:
        raise ValueError(f"{path}: no tag columns")
    id_idx = header.index("clip_id")
    body = [r for r in rows[1:] if r]
    try:
        ids = np.array([int(r[id_idx]) for r in body], dtype=np.int64)
        y = np.array([[int(r[i]) for i in tag_idx] for r in body], dtype=np.int64)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{path}: malformed row: {exc}") from exc
    return ids, tuple(header[i] for i in tag_idx), y.reshape(len(body), len(tag_idx))


# --------------------------------------------------------------------------------------------
# Descriptors over clips (parallel, cached)
# --------------------------------------------------------------------------------------------


def _descriptor_job(path: str) -> tuple[str, dict[str, float] | None, str | None]:
    """Worker: decode one file at 16 kHz and compute its descriptors (errors are returned)."""
    from training.data.audio import decode
    from training.descriptors import compute_descriptors

    try:
        return path, compute_descriptors(decode(path, SAMPLE_RATE)), None
    except Exception as exc:  # noqa: BLE001 - a bad clip must not stop the study
        return path, None, f"{type(exc).__name__}: {exc}"


def _read_descriptor_cache(path: Path) -> dict[int, tuple[str, dict[str, float]]]:
    if not path.is_file():
        return {}
    out: dict[int, tuple[str, dict[str, float]]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not set(DESCRIPTOR_NAMES) <= set(reader.fieldnames):
            log.info("descriptor cache %s lacks columns; recomputing", path)
            return {}
        for row in reader:
            try:
                out[int(row["clip_id"])] = (
                    row["mp3_path"],
                    {n: float(row[n]) for n in DESCRIPTOR_NAMES},
                )
            except (KeyError, ValueError):
                continue
    return out


def _write_descriptor_cache(path: Path, rows: dict[int, tuple[str, dict[str, float]]]) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["clip_id", "mp3_path", *DESCRIPTOR_NAMES])
        for cid in sorted(rows):
            p, d = rows[cid]
            w.writerow([cid, p, *(repr(d[n]) for n in DESCRIPTOR_NAMES)])
    tmp.replace(path)


def compute_clip_descriptors(
    root: Path,
    clip_ids: Sequence[int],
    rel_paths: Sequence[str],
    cache_csv: Path,
    workers: int = 2,
    progress: bool = True,
) -> tuple[np.ndarray, list[tuple[int, str, str]]]:
    """Descriptors ``(N, D)`` for the clips (NaN rows for failures) and the failures list.

    Results are cached in ``cache_csv`` keyed by clip id and path: a rerun computes only
    what is missing. Work runs in ``workers`` spawned processes with a tqdm bar.
    """
    from tqdm import tqdm

    cache = _read_descriptor_cache(cache_csv)
    todo = [
        (cid, p)
        for cid, p in zip(clip_ids, rel_paths, strict=True)
        if cid not in cache or cache[cid][0] != p
    ]
    failures: list[tuple[int, str, str]] = []
    if todo:
        log.info(
            "computing descriptors of %d clips (%d cached)", len(todo), len(clip_ids) - len(todo)
        )
        by_path = {str(root / p): (cid, p) for cid, p in todo}
        jobs = list(by_path)
        bar = tqdm(total=len(jobs), desc="descriptors", unit="clip", disable=not progress)
        if workers <= 1 or len(jobs) < 4:
            results = (_descriptor_job(j) for j in jobs)
            executor = None
        else:
            import multiprocessing as mp

            executor = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
            results = executor.map(_descriptor_job, jobs, chunksize=4)
        try:
            for done, (path, desc, err) in enumerate(results, start=1):
                cid, rel = by_path[path]
                if desc is None:
                    failures.append((cid, rel, err or "unknown error"))
                    log.warning("clip %d (%s) skipped: %s", cid, rel, err)
                else:
                    cache[cid] = (rel, desc)
                bar.update(1)
                if done % 500 == 0:
                    _write_descriptor_cache(cache_csv, cache)
        finally:
            bar.close()
            if executor is not None:
                executor.shutdown()
        _write_descriptor_cache(cache_csv, cache)
    x = np.full((len(clip_ids), len(DESCRIPTOR_NAMES)), np.nan)
    for i, cid in enumerate(clip_ids):
        if cid in cache and cache[cid][0] == rel_paths[i]:
            x[i] = [cache[cid][1][n] for n in DESCRIPTOR_NAMES]
    return x, failures


# --------------------------------------------------------------------------------------------
# Separability tests
# --------------------------------------------------------------------------------------------


def mann_whitney(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Two-sided Mann-Whitney U of ``a`` vs ``b`` (NaNs dropped).

    ``auc = U_a / (n_a n_b)`` = P(a > b) + P(a = b) / 2; ``auc_free = max(auc, 1 - auc)``;
    ``effect`` = rank-biserial correlation = 2 auc - 1 (equals Cliff's delta).
    """
    from scipy.stats import mannwhitneyu

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a[np.isfinite(a)]
    b = b[np.isfinite(b)]
    if len(a) == 0 or len(b) == 0:
        return {
            "n_a": len(a),
            "n_b": len(b),
            "auc": math.nan,
            "auc_free": math.nan,
            "effect": math.nan,
            "p": math.nan,
            "median_a": math.nan,
            "median_b": math.nan,
        }
    if np.ptp(np.concatenate([a, b])) == 0:
        u, p = len(a) * len(b) / 2.0, 1.0
    else:
        res = mannwhitneyu(a, b, alternative="two-sided")
        u, p = float(res.statistic), float(res.pvalue)
    auc = u / (len(a) * len(b))
    return {
        "n_a": len(a),
        "n_b": len(b),
        "auc": auc,
        "auc_free": max(auc, 1.0 - auc),
        "effect": 2.0 * auc - 1.0,
        "p": p,
        "median_a": float(np.median(a)),
        "median_b": float(np.median(b)),
    }


def separability_tests(
    x: np.ndarray,
    y: np.ndarray,
    tags: Sequence[str],
    names: Sequence[str],
    pairs: Sequence[tuple[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """Mann-Whitney per descriptor for each group contrast, Holm-corrected over the family.

    With ``pairs``: group A = tag a without b, group B = tag b without a. Without: each tag,
    present (A) vs absent (B). Each row: ``pair, descriptor`` and :func:`mann_whitney`'s keys
    plus ``p_holm``. Contrasts where a group is empty are skipped.
    """
    rows: list[dict[str, Any]] = []
    idx = {t: i for i, t in enumerate(tags)}
    contrasts: list[tuple[str, np.ndarray, np.ndarray]] = []
    if pairs is None:
        for t in tags:
            pos = y[:, idx[t]] > 0
            contrasts.append((f"{t} vs not {t}", pos, ~pos))
    else:
        for a, b in pairs:
            if a not in idx or b not in idx:
                continue
            ya, yb = y[:, idx[a]] > 0, y[:, idx[b]] > 0
            contrasts.append((f"{a} vs {b}", ya & ~yb, yb & ~ya))
    for label, ma, mb in contrasts:
        if not ma.any() or not mb.any():
            continue
        for j, name in enumerate(names):
            r = mann_whitney(x[ma, j], x[mb, j])
            rows.append({"pair": label, "descriptor": name, **r})
    p_adj = holm([r["p"] for r in rows])
    for r, q in zip(rows, p_adj, strict=True):
        r["p_holm"] = float(q)
    return rows


# --------------------------------------------------------------------------------------------
# Projections and cluster quality
# --------------------------------------------------------------------------------------------


def standardize(x: np.ndarray) -> np.ndarray:
    """Median-impute NaNs per column, then z-score (constant columns become 0)."""
    x = np.array(x, dtype=np.float64, copy=True)
    for j in range(x.shape[1]):
        col = x[:, j]
        bad = ~np.isfinite(col)
        if bad.any():
            fill = np.nanmedian(col[~bad]) if (~bad).any() else 0.0
            col[bad] = fill
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


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


def projections(z: np.ndarray, tsne_max: int, seed: int) -> dict[str, Any]:
    """PCA (2-D, explained variance) on all rows; t-SNE on at most ``tsne_max`` rows."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    n_comp = min(z.shape[1], z.shape[0], 10)
    pca = PCA(n_components=n_comp, random_state=seed).fit(z)
    pca2 = pca.transform(z)[:, :2]
    rng = np.random.default_rng(seed)
    sel = np.sort(rng.permutation(len(z))[:tsne_max]) if len(z) > tsne_max else np.arange(len(z))
    perplexity = float(min(30.0, max(2.0, (len(sel) - 1) / 3.0)))
    # Exact gradients are quicker than Barnes-Hut for a few hundred points (and exact).
    method = "exact" if len(sel) <= 300 else "barnes_hut"
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, method=method)
    return {
        "pca": pca2,
        "explained": pca.explained_variance_ratio_,
        "tsne": tsne.fit_transform(z[sel]),
        "tsne_rows": sel,
        "perplexity": perplexity,
    }


# --------------------------------------------------------------------------------------------
# Model embeddings (penultimate features) from a checkpoint
# --------------------------------------------------------------------------------------------


def final_linear(model: Any, n_tags: int) -> Any:
    """The last ``nn.Linear`` with ``n_tags`` outputs (the classifier); error if none."""
    import torch.nn as nn

    found = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == n_tags]
    if not found:
        raise ValueError(f"model has no nn.Linear layer with {n_tags} outputs to hook")
    return found[-1]


def model_embeddings(
    model: Any,
    waves: Sequence[np.ndarray],
    chunk_samples: int,
    n_tags: int,
    n_chunks: int = EVAL_CHUNKS,
    batch_size: int = 32,
    device: str | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Penultimate features ``(N, F)``: input of the final Linear, averaged over each clip's chunks.

    A forward hook on :func:`final_linear` captures its input ``(B, ..., F)``; extra axes (time
    steps of a per-step classifier) are averaged too. Chunks are those of evaluation
    (:func:`training.data.audio.chunk_starts`, ``n_chunks`` evenly spaced).
    """
    import torch
    from tqdm import tqdm

    from training.data.audio import chunk_starts, take_chunks

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = model.to(dev).eval()
    captured: list[torch.Tensor] = []

    def hook(_mod: Any, inputs: tuple[Any, ...]) -> None:
        feats = inputs[0].detach()
        captured.append(feats.reshape(feats.shape[0], -1, feats.shape[-1]).mean(dim=1).float())

    handle = final_linear(model, n_tags).register_forward_pre_hook(hook)
    out = []
    try:
        with torch.no_grad():
            for wave in tqdm(waves, desc="embeddings", unit="clip", disable=not progress):
                starts = chunk_starts(len(wave), chunk_samples, n_chunks)
                chunks = take_chunks(wave, starts, chunk_samples)  # (n_chunks, L)
                parts = []
                for s in range(0, len(chunks), batch_size):
                    captured.clear()
                    model(torch.from_numpy(chunks[s : s + batch_size]).to(dev))
                    if not captured:
                        raise RuntimeError("the final Linear layer was not called in forward()")
                    parts.append(captured[-1])
                out.append(torch.cat(parts).mean(dim=0).cpu().numpy())
    finally:
        handle.remove()
    return np.stack(out).astype(np.float64)


def checkpoint_embeddings(
    checkpoint: Path, root: Path, rel_paths: Sequence[str], cfg: AnalyzeConfig
) -> tuple[np.ndarray, dict[str, Any]]:
    """Load ``best.pt``-style checkpoint, build the model and embed the clips at ``rel_paths``."""
    import torch

    from training.data.audio import decode
    from training.models import build_model

    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    # Our own training checkpoints (config dicts, RNG state): trusted local files.
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    missing = [
        k
        for k in ("model_name", "model_config", "state_dict", "tags", "chunk_samples")
        if k not in ckpt
    ]
    if missing:
        raise ValueError(f"{checkpoint}: not a training checkpoint (missing {missing})")
    n_tags = len(ckpt["tags"])
    model = build_model(ckpt["model_name"], n_tags=n_tags, **dict(ckpt["model_config"]))
    model.load_state_dict(ckpt["state_dict"])
    waves = [decode(root / p, SAMPLE_RATE) for p in rel_paths]
    emb = model_embeddings(
        model,
        waves,
        int(ckpt["chunk_samples"]),
        n_tags,
        batch_size=cfg.batch_size,
        progress=cfg.progress,
    )
    info = {
        "model_name": ckpt["model_name"],
        "checkpoint": str(checkpoint),
        "epoch": ckpt.get("epoch"),
        "metric_name": ckpt.get("metric_name"),
        "metric": ckpt.get("metric"),
        "dim": int(emb.shape[1]),
    }
    return emb, info


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _heatmap(
    ax: Any,
    m: np.ndarray,
    tags: Sequence[str],
    fmt: str,
    title: str,
    cmap: str = "viridis",
    center: bool = False,
    stars: np.ndarray | None = None,
) -> None:
    finite = m[np.isfinite(m)]
    if center and finite.size:
        lim = float(np.max(np.abs(finite))) or 1.0
        vmin, vmax = -lim, lim
    else:
        vmin = float(finite.min()) if finite.size else 0.0
        vmax = float(finite.max()) if finite.size else 1.0
    shown = np.where(np.isfinite(m), m, np.nan)
    if center:  # -inf PMI (never together) is drawn at the bottom of the scale
        shown = np.where(np.isneginf(m), vmin, shown)
    im = ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(tags)), tags, rotation=45, ha="right")
    ax.set_yticks(range(len(tags)), tags)
    ax.set_title(title)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            v = m[i, j]
            if np.isnan(v):
                continue
            txt = "-inf" if np.isneginf(v) else format(v, fmt)
            if stars is not None and i != j and stars[i, j]:
                txt += "*"
            # Diverging map: dark at both ends; sequential: dark at the low end.
            dark = (not np.isfinite(v) or abs(v) > 0.6 * vmax) if center else v < (vmin + vmax) / 2
            ax.text(
                j, i, txt, ha="center", va="center", fontsize=7, color="white" if dark else "black"
            )


def _save(fig: Any, path: Path, dpi: int) -> str:
    """Lay out, write and close ``fig``; returns the file name the report links to."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path.name


def label_figures(st: LabelStats, out: Path, dpi: int) -> dict[str, str]:
    """Write the label PNGs; returns {key: file name}."""
    plt = _plt()
    files = {}
    tags = list(st.tags)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(tags, st.counts, color="tab:blue")
    for i, c in enumerate(st.counts):
        ax.text(i, c, f"{c}\n{100 * c / st.n_total:.1f}%", ha="center", va="bottom", fontsize=7)
    ax.set_ylabel("clips")
    ax.set_title(f"Tag frequencies (of {st.n_total} clips)")
    ax.set_ylim(0, max(st.counts.max(), 1) * 1.2)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    files["frequencies"] = _save(fig, out / "tag_frequencies.png", dpi)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ks = list(st.cardinality)
    vs = [st.cardinality[k] for k in ks]
    ax.bar(range(len(ks)), vs, color="tab:green")
    ax.set_xticks(range(len(ks)), [str(k) for k in ks])
    for i, v in enumerate(vs):
        ax.text(i, v, f"{100 * v / st.n_total:.1f}%", ha="center", va="bottom", fontsize=7)
    ax.set_xlabel("tags per clip")
    ax.set_ylabel("clips")
    ax.set_title("Label cardinality")
    ax.set_ylim(0, max(vs) * 1.15)
    files["cardinality"] = _save(fig, out / "label_cardinality.png", dpi)

    fig, axes = plt.subplots(1, 2, figsize=(15, 6.5))
    _heatmap(axes[0], st.cooc.astype(float), tags, ".0f", "Co-occurrence counts (diag = tag count)")
    _heatmap(axes[1], st.cond, tags, ".2f", "P(column | row)")
    files["cooccurrence"] = _save(fig, out / "cooccurrence.png", dpi)

    sig = np.nan_to_num(st.q_values, nan=1.0) < 0.05
    fig, axes = plt.subplots(1, 2, figsize=(15, 6.5))
    _heatmap(axes[0], st.lift, tags, ".2f", "Lift P(A,B)/(P(A)P(B))", cmap="magma")
    _heatmap(
        axes[1],
        st.pmi,
        tags,
        ".2f",
        "PMI (bits); * = BH q < 0.05 (Fisher)",
        cmap="RdBu_r",
        center=True,
        stars=sig,
    )
    files["lift_pmi"] = _save(fig, out / "lift_pmi.png", dpi)
    return files


def content_figures(
    x: np.ndarray, y: np.ndarray, tags: Sequence[str], seed_rows: list[dict], out: Path, dpi: int
) -> dict[str, str]:
    """Box plots of scalar descriptors per tag (present vs absent) and violins for seed pairs."""
    plt = _plt()
    files: dict[str, str] = {}
    names = list(SCALAR_DESCRIPTORS)
    ncol = 3
    nrow = math.ceil(len(names) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(18, 4 * nrow), squeeze=False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        j = DESCRIPTOR_NAMES.index(name)
        data, pos, colors = [], [], []
        for i, _t in enumerate(tags):
            has = y[:, i] > 0
            for which, mask, col in ((0, has, "tab:orange"), (1, ~has, "lightgray")):
                v = x[mask, j]
                data.append(v[np.isfinite(v)] if v.size else np.array([np.nan]))
                pos.append(3 * i + which)
                colors.append(col)
        bp = ax.boxplot(
            [d if d.size else np.array([np.nan]) for d in data],
            positions=pos,
            widths=0.8,
            showfliers=False,
            patch_artist=True,
        )
        for patch, col in zip(bp["boxes"], colors, strict=True):
            patch.set_facecolor(col)
        ax.set_xticks([3 * i + 0.5 for i in range(len(tags))], tags, rotation=45, ha="right")
        ax.set_title(f"{name} ({DESCRIPTOR_UNITS.get(name, '')})")
        if name == "rms":
            ax.set_yscale("log")
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    fig.suptitle("Descriptors per tag: orange = tag present, grey = absent (no outliers drawn)")
    files["boxes"] = _save(fig, out / "descriptors_by_tag.png", dpi)

    pairs = list(dict.fromkeys(r["pair"] for r in seed_rows))
    if pairs:
        top = 4
        fig, axes = plt.subplots(
            len(pairs), top, figsize=(4 * top, 3.5 * len(pairs)), squeeze=False
        )
        idx = {t: i for i, t in enumerate(tags)}
        for r_i, pair in enumerate(pairs):
            a, b = pair.split(" vs ")
            ya, yb = y[:, idx[a]] > 0, y[:, idx[b]] > 0
            ma, mb = ya & ~yb, yb & ~ya
            best = sorted(
                (r for r in seed_rows if r["pair"] == pair),
                key=lambda r: -np.nan_to_num(r["auc_free"]),
            )[:top]
            for c_i, r in enumerate(best):
                ax = axes[r_i, c_i]
                j = DESCRIPTOR_NAMES.index(r["descriptor"])
                va, vb = x[ma, j], x[mb, j]
                va, vb = va[np.isfinite(va)], vb[np.isfinite(vb)]
                if va.size > 1 and vb.size > 1:
                    ax.violinplot([va, vb], showmedians=True)
                ax.set_xticks([1, 2], [f"{a}\n(n={va.size})", f"{b}\n(n={vb.size})"])
                ax.set_title(f"{r['descriptor']}: AUC {r['auc_free']:.2f}", fontsize=9)
            for c_i in range(len(best), top):
                axes[r_i, c_i].axis("off")
        fig.suptitle("Seed pairs: the four most separating single descriptors per pair")
        files["seed_violins"] = _save(fig, out / "seed_pairs.png", dpi)
    return files


def scatter_figure(
    xy: np.ndarray, y: np.ndarray, tags: Sequence[str], title: str, path: Path, dpi: int
) -> None:
    """One panel per tag: absent clips grey, present clips coloured on top."""
    plt = _plt()
    ncol = min(5, len(tags))
    nrow = math.ceil(len(tags) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 3.0 * nrow), squeeze=False)
    s = 6 if len(xy) > 1000 else 14
    for i, ax in enumerate(axes.ravel()):
        if i >= len(tags):
            ax.axis("off")
            continue
        has = y[:, i] > 0
        ax.scatter(xy[~has, 0], xy[~has, 1], s=s, c="lightgray", linewidths=0)
        ax.scatter(xy[has, 0], xy[has, 1], s=s, c="tab:red", linewidths=0)
        ax.set_title(f"{tags[i]} (n={int(has.sum())})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    _save(fig, path, dpi)


# --------------------------------------------------------------------------------------------
# Report text
# --------------------------------------------------------------------------------------------


def _p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    if p == 0.0:
        return "<1e-300"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def _f(v: float, fmt: str = ".3f") -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "n/a"
    if isinstance(v, float) and np.isinf(v):
        return "-inf" if v < 0 else "inf"
    return format(v, fmt)


def label_section(
    st: LabelStats, files: dict[str, str], note: str, alpha: float, rare_lift: float
) -> tuple[list[str], dict[str, Any]]:
    """Markdown of the label part and its headline numbers."""
    tags = list(st.tags)
    md = ["## 1. Labels", ""]
    if note:
        md += [note, ""]
    md += [
        f"Population: **{st.n_total}** clips ({st.n_rows} rows in the label matrix), "
        f"**{len(tags)}** tags.",
        "",
        f"![tag frequencies]({files['frequencies']})",
        "",
        "| tag | clips | share |",
        "|---|---:|---:|",
    ]
    for t, c in zip(tags, st.counts, strict=True):
        md.append(f"| {t} | {int(c)} | {100 * c / st.n_total:.2f}% |")
    md += [
        "",
        "### Label cardinality",
        "",
        f"Mean tags per clip: **{st.mean_cardinality:.3f}** over all {st.n_total} clips "
        f"({sum(k * v for k, v in st.cardinality.items()) / max(st.n_total - st.cardinality.get(0, 0), 1):.3f} "
        f"over the clips with at least one tag). Clips with **none** of these tags: "
        f"**{st.cardinality.get(0, 0)}** ({100 * st.share_none:.1f}%).",
        "",
        f"![cardinality]({files['cardinality']})",
        "",
        "| tags per clip | clips | share |",
        "|---:|---:|---:|",
    ]
    for k, v in st.cardinality.items():
        md.append(f"| {k} | {v} | {100 * v / st.n_total:.2f}% |")
    md += [
        "",
        "### Co-occurrence",
        "",
        "Left: clips carrying both tags (diagonal: the tag's count). Right: P(column | row) "
        "= n(row, column) / n(row).",
        "",
        f"![co-occurrence]({files['cooccurrence']})",
        "",
        "### Lift, PMI and significance",
        "",
        f"Lift = P(A,B) / (P(A) P(B)) with probabilities over the {st.n_total} clips; "
        "PMI = log2(lift) in bits (-inf: never together). Each pair's 2x2 table is tested with "
        "Fisher's exact test (two-sided); p-values are corrected with Benjamini-Hochberg over "
        f"the {len(st.pairs)} pairs (q < {alpha} marked significant).",
        "",
        f"![lift and PMI]({files['lift_pmi']})",
        "",
    ]
    sig = [p for p in st.pairs if p["significant"]]
    neg = [p for p in sig if p["lift"] < 1]
    pos = [p for p in sig if p["lift"] > 1]
    rare = sorted((p for p in sig if p["lift"] < rare_lift), key=lambda p: p["lift"])
    md.append(
        f"{len(sig)} of {len(st.pairs)} pairs deviate significantly from independence: "
        f"{len(pos)} attract (lift > 1), {len(neg)} avoid each other (lift < 1)."
    )
    md.append("")
    ct = next((p for p in st.pairs if {p["a"], p["b"]} == {"classical", "techno"}), None)
    if rare:
        md.append(f"**Pairs that almost never co-occur** (significant, lift < {rare_lift}):")
        md.append("")
        for p in rare:
            md.append(
                f"- **{p['a']} & {p['b']}**: together in {p['n_ab']} clips where "
                f"independence predicts {p['expected']:.1f} (n({p['a']}) = {p['n_a']}, "
                f"n({p['b']}) = {p['n_b']}); P({p['b']}|{p['a']}) = {p['p_b_given_a']:.4f}, "
                f"lift {p['lift']:.3f}, PMI {_f(p['pmi'], '.2f')} bits, "
                f"Fisher p = {_p(p['p'])}, BH q = {_p(p['q'])}."
            )
        md.append("")
    if ct is not None and ct not in rare:
        md += [
            f"classical & techno: together in {ct['n_ab']} clips vs {ct['expected']:.1f} "
            f"expected (lift {ct['lift']:.3f}, p = {_p(ct['p'])}, q = {_p(ct['q'])}).",
            "",
        ]
    md += [
        "All pairs, by PMI:",
        "",
        "| A | B | n(A) | n(B) | n(A,B) | expected | P(B given A) | P(A given B) | lift | PMI (bits) "
        "| odds ratio | Fisher p | BH q |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in sorted(st.pairs, key=lambda p: -np.nan_to_num(p["pmi"], neginf=-1e9)):
        md.append(
            f"| {p['a']} | {p['b']} | {p['n_a']} | {p['n_b']} | {p['n_ab']} | "
            f"{p['expected']:.1f} | {p['p_b_given_a']:.3f} | {p['p_a_given_b']:.3f} | "
            f"{p['lift']:.3f} | {_f(p['pmi'], '.2f')} | {_f(p['odds_ratio'], '.3g')} | "
            f"{_p(p['p'])} | {_p(p['q'])}{' *' if p['significant'] else ''} |"
        )
    md.append("")
    headline = {
        "n_total": st.n_total,
        "n_rows": st.n_rows,
        "tags": tags,
        "tag_counts": {t: int(c) for t, c in zip(tags, st.counts, strict=True)},
        "mean_cardinality": st.mean_cardinality,
        "share_none": st.share_none,
        "cardinality": {str(k): v for k, v in st.cardinality.items()},
        "significant_pairs": len(sig),
        "pairs": len(st.pairs),
        "rare_pairs": [
            {k: p[k] for k in ("a", "b", "n_ab", "expected", "lift", "p", "q")} for p in rare
        ],
        "classical_techno": None
        if ct is None
        else {k: ct[k] for k in ("n_ab", "expected", "lift", "pmi", "p", "q")},
    }
    return md, headline


def _write_pairs_csv(st: LabelStats, path: Path) -> None:
    keys = list(st.pairs[0]) if st.pairs else []
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for p in st.pairs:
            w.writerow(p)


def _write_tests_csv(rows: list[dict[str, Any]], path: Path) -> None:
    if not rows:
        return
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["family", *[k for k in rows[0] if k != "family"]])
        w.writeheader()
        for r in rows:
            w.writerow(r)


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------


def detect_data_kind(
    root: Path, clip_ids: Sequence[int], paths: Sequence[str], labels: np.ndarray
) -> tuple[str, str]:
    """``("real" | "synthetic", reason)`` for an MTAT root.

    A marker file (:data:`SYNTH_MARKERS`) means synthetic. Otherwise the clips that carry a tag
    are matched, by (clip id, mp3 path), against the packaged list of the real MTAT clips with a
    top-10 tag: a real MTAT root matches (almost) all of them, a synthetic one (made-up names)
    almost none.
    """
    for name in SYNTH_MARKERS:
        if (root / name).exists():
            return "synthetic", f"marker file `{name}`"
    ids, _, _ = read_labels_table(data_file(REAL_LABELS_TABLE))
    with open(data_file(REAL_LABELS_TABLE), newline="", encoding="utf-8") as f:
        real = {(int(r["clip_id"]), r["mp3_path"]) for r in csv.DictReader(f, delimiter="\t")}
    tagged = [(int(c), p) for c, p, row in zip(clip_ids, paths, labels, strict=True) if row.any()]
    if not tagged:
        tagged = [(int(c), p) for c, p in zip(clip_ids, paths, strict=True)]
    share = sum(1 for t in tagged if t in real) / max(len(tagged), 1)
    reason = (
        f"{100 * share:.1f}% of its {len(tagged)} tagged clips match the real MTAT clip "
        f"list (clip id + mp3 path, {len(ids)} real clips with a top-10 tag)"
    )
    return ("real" if share >= 0.9 else "synthetic"), reason


def select_clips(n: int, max_clips: int | None, seed: int) -> np.ndarray:
    """Deterministic subsample: sorted indices of the first ``max_clips`` of a seeded permutation."""
    if max_clips is None or max_clips >= n:
        return np.arange(n)
    if max_clips < 1:
        raise ValueError("--max-clips must be positive")
    return np.sort(np.random.default_rng(seed).permutation(n)[:max_clips])


def _command_line(args: argparse.Namespace) -> str:
    parts = ["python", "-m", "training", "analyze"]
    for dest, flag in _FLAGS:
        v = getattr(args, dest, None)
        if v is None or v is False:
            continue
        if dest in _DEFAULTS and v == _DEFAULTS[dest]:
            continue
        parts += [flag] if v is True else [flag, str(v)]
    return shlex.join(parts)


_FLAGS = (
    ("mtat_root", "--mtat-root"),
    ("labels_table", "--labels-table"),
    ("real_labels", "--real-labels"),
    ("total_clips", "--total-clips"),
    ("out", "--out"),
    ("checkpoint", "--checkpoint"),
    ("labels_only", "--labels-only"),
    ("max_clips", "--max-clips"),
    ("top_k", "--top-k"),
    ("workers", "--workers"),
    ("seed", "--seed"),
    ("knn_k", "--knn-k"),
    ("tsne_max", "--tsne-max"),
    ("data_kind", "--data-kind"),
    ("no_progress", "--no-progress"),
)
_DEFAULTS = {
    "workers": 2,
    "top_k": 10,
    "seed": 0,
    "knn_k": 10,
    "tsne_max": 2000,
    "data_kind": "auto",
}


def analyze(
    out: Path,
    cfg: AnalyzeConfig,
    mtat_root: Path | None = None,
    labels_table: Path | None = None,
    total_clips: int | None = None,
    labels_only: bool = False,
    checkpoint: Path | None = None,
    command: str = "",
    data_description: str | None = None,
    data_kind: str = "auto",
) -> dict[str, Any]:
    """Run the study and write ``out/report.md`` (+ PNGs, CSVs, ``summary.json``).

    Exactly one of ``mtat_root`` / ``labels_table``. A label table implies ``labels_only``.
    ``data_kind`` ("auto" | "real" | "synthetic") labels an MTAT root; "auto" detects it
    (:func:`detect_data_kind`). Returns the summary also written to ``summary.json``.
    """
    if data_kind not in ("auto", "real", "synthetic"):
        raise ValueError(f"data_kind must be auto, real or synthetic, not {data_kind!r}")
    if (mtat_root is None) == (labels_table is None):
        raise ValueError("give exactly one of an MTAT root or a label table")
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
    }
    note = ""
    clips_rel: list[str] = []
    if labels_table is not None:
        labels_only = True
        clip_ids, tags, y = read_labels_table(labels_table)
        n_total = int(total_clips) if total_clips is not None else len(clip_ids)
        source = data_description or f"label table `{labels_table.name}` (labels only, no audio)"
        if n_total > len(clip_ids):
            note = (
                f"The table lists only the {len(clip_ids)} clips that carry at least one of "
                f"these tags; the other {n_total - len(clip_ids)} of the {n_total} clips carry "
                "none and are counted as such (cardinality 0 and all probabilities are over "
                f"{n_total} clips)."
            )
        kind = "real MTAT labels" if data_description else "label table"
    else:
        from training.data.mtat import read_annotations

        assert mtat_root is not None
        if not mtat_root.is_dir():
            raise FileNotFoundError(f"MTAT root not found: {mtat_root}")
        ann = read_annotations(mtat_root, top_k=cfg.top_k)
        tags = tuple(ann.tags)
        clips = list(ann.clips)
        y_all = np.asarray(ann.label_matrix(clips))
        clip_ids = np.array([c.clip_id for c in clips], dtype=np.int64)
        y = (y_all > 0).astype(np.int64)
        found, reason = detect_data_kind(mtat_root, clip_ids, [c.path for c in clips], y)
        data_kind = found if data_kind == "auto" else data_kind
        kind = "SYNTHETIC MTAT" if data_kind == "synthetic" else "real MTAT"
        how = f"detected: {reason}" if found == data_kind else f"set by --data-kind; {reason}"
        if data_kind == "synthetic":
            source = (
                f"**synthetic MTAT, not real music** (e.g. made by `training.synth`) at "
                f"`{mtat_root}` ({how}): its audio is rendered from the tags, so these "
                "numbers describe the generator, not MTAT"
            )
        else:
            source = f"**real MTAT** at `{mtat_root}` ({how})"
        n_total = len(clips)
        clips_rel = [c.path for c in clips]
    summary.update(data=kind, source=source, tags=list(tags))

    st = label_statistics(y, tags, n_total=n_total, alpha=cfg.alpha)
    lfiles = label_figures(st, out, cfg.dpi)
    _write_pairs_csv(st, out / "label_pairs.csv")
    label_md, label_head = label_section(st, lfiles, note, cfg.alpha, cfg.rare_lift)
    summary["labels"] = label_head

    content_md: list[str] = []
    proj_md: list[str] = []
    n_content = 0
    if not labels_only:
        assert mtat_root is not None
        sel = select_clips(len(clips_rel), cfg.max_clips, cfg.seed)
        ids_sel = [int(clip_ids[i]) for i in sel]
        paths_sel = [clips_rel[i] for i in sel]
        x, failures = compute_clip_descriptors(
            mtat_root, ids_sel, paths_sel, out / "descriptors.csv", cfg.workers, cfg.progress
        )
        ok = np.all(np.isfinite(np.nan_to_num(x, nan=0.0)), axis=1) & ~np.all(np.isnan(x), axis=1)
        x, ysel = x[ok], y[sel][ok]
        kept_paths = [p for p, k in zip(paths_sel, ok, strict=True) if k]
        n_content = len(x)
        if n_content < 4:
            raise ValueError(f"only {n_content} clips could be decoded; need at least 4")
        content_md, content_head = content_section(x, ysel, tags, failures, len(sel), out, cfg)
        summary["content"] = content_head
        proj_md, proj_head = projection_section(
            x, ysel, tags, out, cfg, mtat_root, kept_paths, checkpoint
        )
        summary["projections"] = proj_head

    header = [
        f"# Dataset study: {kind}",
        "",
        f"- **Data:** {source}.",
        f"- **Clips:** {n_total} in the label population"
        + (f"; {n_content} with audio descriptors" if not labels_only else "; labels only")
        + ".",
        f"- **Tags ({len(tags)}):** {', '.join(tags)}.",
        f"- **Date (UTC):** {summary['created']}.",
        f"- **Command:** `{command or 'analyze() called from Python'}`.",
    ]
    if kind != "SYNTHETIC MTAT":
        header.append(f"- **Attribution:** {ATTRIBUTION}")
    else:
        header.append(
            "- **Note:** synthetic data. Rerun the same command on a real MTAT root "
            "for statements about MTAT itself."
        )
    header.append("")
    summary["n_total"] = n_total
    summary["n_content"] = n_content
    text = "\n".join(header + label_md + content_md + proj_md) + "\n"
    (out / "report.md").write_text(text, encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2) + "\n")
    log.info("wrote %s", out / "report.md")
    return summary


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    return v


def content_section(
    x: np.ndarray,
    y: np.ndarray,
    tags: Sequence[str],
    failures: list[tuple[int, str, str]],
    n_selected: int,
    out: Path,
    cfg: AnalyzeConfig,
) -> tuple[list[str], dict[str, Any]]:
    """Tests, figures and markdown of the content-against-labels part."""
    names = list(DESCRIPTOR_NAMES)
    seed_rows = separability_tests(x, y, tags, names, pairs=SEED_PAIRS)
    tag_rows = separability_tests(x, y, tags, names, pairs=None)
    _write_tests_csv(
        [{"family": "seed_pairs", **r} for r in seed_rows]
        + [{"family": "tag_present_vs_absent", **r} for r in tag_rows],
        out / "descriptor_tests.csv",
    )
    files = content_figures(x, y, tags, seed_rows, out, cfg.dpi)
    md = [
        "## 2. Content against labels",
        "",
        f"Descriptors of {len(x)} clips (of {n_selected} selected"
        + (f"; {len(failures)} could not be decoded and were skipped" if failures else "")
        + "), decoded at 16 kHz by `training.data.audio.decode` and computed by "
        "`training.descriptors` (numpy/scipy: 1024-point Hann STFT, hop 256; 40-band mel; "
        "DCT-II MFCCs; spectral-flux onsets; autocorrelation tempo 40-240 BPM). "
        "Per-clip values are in `descriptors.csv`.",
        "",
        f"![descriptors by tag]({files['boxes']})",
        "",
        "### Do the seed pairs separate without machine learning?",
        "",
        "For each pair A vs B, group A = clips tagged A but not B, group B = tagged B but not A. "
        "Each descriptor alone is tested with a two-sided Mann-Whitney U test; AUC = U/(n_A n_B) "
        "= P(descriptor of an A clip > that of a B clip), i.e. the ROC-AUC of the descriptor as "
        "a one-number classifier; 'AUC*' = max(AUC, 1 - AUC), direction-free; effect = "
        "rank-biserial correlation 2 AUC - 1 (= Cliff's delta). p-values are Holm-corrected over "
        f"all {len(seed_rows)} descriptor x pair tests.",
        "",
    ]
    head: dict[str, Any] = {"n_clips": len(x), "failures": len(failures), "seed_pairs": {}}
    if "seed_violins" in files:
        md += [f"![seed pairs]({files['seed_violins']})", ""]
    pairs = list(dict.fromkeys(r["pair"] for r in seed_rows))
    if not pairs:
        md += ["(No clip carries one tag of a seed pair without the other: nothing to test.)", ""]
    for pair in pairs:
        rows = sorted(
            (r for r in seed_rows if r["pair"] == pair), key=lambda r: -np.nan_to_num(r["auc_free"])
        )
        best = rows[0]
        n_sig = sum(1 for r in rows if r["p_holm"] < cfg.alpha)
        md += [
            f"**{pair}** (n = {best['n_a']} vs {best['n_b']}): best single descriptor "
            f"**{best['descriptor']}**, AUC* = **{best['auc_free']:.3f}** (Holm p = "
            f"{_p(best['p_holm'])}); {n_sig} of {len(rows)} descriptors differ significantly "
            f"(Holm p < {cfg.alpha}); {sum(1 for r in rows if r['auc_free'] >= 0.9)} reach "
            "AUC* >= 0.9.",
            "",
            "| pair | descriptor | median A | median B | AUC (A>B) | AUC* | p | Holm p | effect |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            md.append(
                f"| {pair} | {r['descriptor']} | {_f(r['median_a'], '.4g')} | "
                f"{_f(r['median_b'], '.4g')} | {_f(r['auc'])} | {_f(r['auc_free'])} | "
                f"{_p(r['p'])} | {_p(r['p_holm'])} | {_f(r['effect'], '+.3f')} |"
            )
        md.append("")
        head["seed_pairs"][pair] = {
            "n_a": best["n_a"],
            "n_b": best["n_b"],
            "best_descriptor": best["descriptor"],
            "best_auc": best["auc_free"],
            "best_p_holm": best["p_holm"],
            "significant": n_sig,
            "tested": len(rows),
        }
    md += [
        "### Each tag, present vs absent",
        "",
        "Best three single descriptors per tag (Mann-Whitney, Holm over all "
        f"{len(tag_rows)} tag x descriptor tests; full table in `descriptor_tests.csv`).",
        "",
        "| tag | n present / absent | best descriptors (AUC*, Holm p) |",
        "|---|---|---|",
    ]
    head["per_tag_best"] = {}
    for t in tags:
        rows = sorted(
            (r for r in tag_rows if r["pair"] == f"{t} vs not {t}"),
            key=lambda r: -np.nan_to_num(r["auc_free"]),
        )
        if not rows:
            md.append(f"| {t} | no contrast | - |")
            continue
        md.append(
            f"| {t} | {rows[0]['n_a']} / {rows[0]['n_b']} | "
            + "; ".join(
                f"{r['descriptor']} {r['auc_free']:.3f} ({_p(r['p_holm'])})" for r in rows[:3]
            )
            + " |"
        )
        head["per_tag_best"][t] = {"descriptor": rows[0]["descriptor"], "auc": rows[0]["auc_free"]}
    md.append("")
    return md, head


def projection_section(
    x: np.ndarray,
    y: np.ndarray,
    tags: Sequence[str],
    out: Path,
    cfg: AnalyzeConfig,
    root: Path,
    rel_paths: list[str],
    checkpoint: Path | None,
) -> tuple[list[str], dict[str, Any]]:
    """PCA/t-SNE figures and cluster-quality tables for descriptors (and model embeddings)."""
    spaces: list[tuple[str, str, np.ndarray]] = [
        ("descriptors", f"standardized descriptors ({x.shape[1]}-D)", standardize(x))
    ]
    emb_info = None
    if checkpoint is not None:
        emb, emb_info = checkpoint_embeddings(checkpoint, root, rel_paths, cfg)
        spaces.append(
            (
                "embeddings",
                f"model embeddings of `{emb_info['model_name']}` "
                f"({emb_info['dim']}-D penultimate features, standardized)",
                standardize(emb),
            )
        )
    md = [
        "## 3. Projections and cluster structure",
        "",
        "PCA (all clips) and t-SNE (perplexity shown; at most "
        f"{cfg.tsne_max} clips) of z-scored features (NaN tempo replaced by the median). "
        "Cluster quality is measured in the full feature space, per tag: the **silhouette** of "
        "the present/absent partition (Euclidean; 1 = tight separate clusters, ~0 = no cluster "
        f"structure, < 0 = mixed) and the **{cfg.knn_k}-NN purity**: among the {cfg.knn_k} "
        "nearest neighbours of a clip with the tag, the share that also has it, against the "
        "base rate (n_pos - 1)/(N - 1) a random neighbour would give (enrichment = purity / "
        "base rate; 1 = no structure). MTAT cuts each song into several clips that share tags "
        "and sound, so purity is also given with neighbours from the clip's own song excluded "
        "('other songs'; song = mp3 path without its trailing start-end seconds).",
        "",
    ]
    head: dict[str, Any] = {}
    for key, desc, z in spaces:
        pr = projections(z, cfg.tsne_max, cfg.seed)
        ev = pr["explained"]
        scatter_figure(
            pr["pca"],
            y,
            tags,
            f"PCA of {key} (PC1 {100 * ev[0]:.1f}%, PC2 {100 * ev[1]:.1f}% of variance)",
            out / f"pca_{key}.png",
            cfg.dpi,
        )
        scatter_figure(
            pr["tsne"],
            y[pr["tsne_rows"]],
            tags,
            f"t-SNE of {key} (perplexity {pr['perplexity']:.0f}, {len(pr['tsne_rows'])} clips)",
            out / f"tsne_{key}.png",
            cfg.dpi,
        )
        cq = cluster_quality(
            z,
            y,
            tags,
            k=cfg.knn_k,
            silhouette_max=cfg.silhouette_max,
            seed=cfg.seed,
            groups=[song_key(p) for p in rel_paths],
        )
        sil = [r["silhouette"] for r in cq if np.isfinite(r["silhouette"])]
        enr = [r["enrichment"] for r in cq if np.isfinite(r["enrichment"])]
        enr_x = [r["enrichment_xsong"] for r in cq if np.isfinite(r["enrichment_xsong"])]
        best_sil = max(cq, key=lambda r: np.nan_to_num(r["silhouette"], nan=-2))
        best_enr = max(cq, key=lambda r: np.nan_to_num(r["enrichment"], nan=-1))
        md += [
            f"### {desc}",
            "",
            f"PCA: the first two components explain {100 * ev[0]:.1f}% and {100 * ev[1]:.1f}% "
            f"of the variance (first {len(ev)}: {100 * float(ev.sum()):.1f}%).",
            "",
            f"![PCA {key}](pca_{key}.png)",
            "",
            f"![t-SNE {key}](tsne_{key}.png)",
            "",
            "| tag | clips with tag | silhouette | k-NN purity | base rate | enrichment | "
            "purity, other songs | base rate, other songs | enrichment, other songs |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in cq:
            md.append(
                f"| {r['tag']} | {r['n_pos']} | {_f(r['silhouette'])} | "
                f"{_f(r['knn_purity'])} | {_f(r['base_rate'])} | "
                f"{_f(r['enrichment'], '.2f')} | {_f(r['knn_purity_xsong'])} | "
                f"{_f(r['base_rate_xsong'])} | {_f(r['enrichment_xsong'], '.2f')} |"
            )
        mean_sil = float(np.mean(sil)) if sil else math.nan
        top = max(sil) if sil else math.nan
        # Kaufman & Rousseeuw (1990): < 0.25 no substantial structure, 0.26-0.50 weak,
        # 0.51-0.70 reasonable, > 0.70 strong.
        scale = (
            "no substantial"
            if top <= 0.25
            else "weak"
            if top <= 0.5
            else "reasonable"
            if top <= 0.7
            else "strong"
        )
        verdict = (
            f"on Kaufman & Rousseeuw's scale even the best tag shows {scale} cluster structure"
            if sil
            else "silhouettes undefined"
        )
        md += [
            "",
            f"Silhouettes range {_f(min(sil) if sil else math.nan)} .. "
            f"{_f(max(sil) if sil else math.nan)} (mean {_f(mean_sil)}; highest: "
            f"{best_sil['tag']}): {verdict}. k-NN purity over base rate (enrichment) "
            f"ranges {_f(min(enr) if enr else math.nan, '.2f')} .. "
            f"{_f(max(enr) if enr else math.nan, '.2f')} (highest: {best_enr['tag']}, "
            f"{_f(best_enr['knn_purity'])} vs {_f(best_enr['base_rate'])}); with the own "
            f"song's clips excluded it ranges {_f(min(enr_x) if enr_x else math.nan, '.2f')} .. "
            f"{_f(max(enr_x) if enr_x else math.nan, '.2f')} (mean "
            f"{_f(float(np.mean(enr_x)) if enr_x else math.nan, '.2f')}).",
            "",
        ]
        head[key] = {
            "explained_2": [float(ev[0]), float(ev[1])],
            "mean_silhouette": mean_sil,
            "max_silhouette": max(sil) if sil else None,
            "per_tag": {r["tag"]: {k: v for k, v in r.items() if k != "tag"} for r in cq},
        }
    if emb_info is not None:
        head["checkpoint"] = emb_info
        md += [
            f"Embeddings from `{emb_info['checkpoint']}` (epoch {emb_info['epoch']}, "
            f"{emb_info['metric_name']} = {_f(emb_info['metric'])}): input of the final Linear "
            f"layer captured by a forward hook, averaged over {EVAL_CHUNKS} evenly spaced "
            "chunks per clip.",
            "",
        ]
    return md, head


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m training analyze``."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--mtat-root", type=Path, help="MTAT root (annotations_final.csv + 0..f)")
    src.add_argument(
        "--labels-table",
        type=Path,
        help="tab-separated label table (clip_id, tags, mp3_path): labels only",
    )
    src.add_argument(
        "--real-labels",
        action="store_true",
        help=f"labels only, on the packaged real MTAT top-10 table ({REAL_LABELS_TABLE})",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder for report.md + PNGs")
    p.add_argument(
        "--total-clips",
        type=int,
        default=None,
        help="clips in the population when the label table omits untagged ones "
        f"(default: table rows; {MTAT_TOTAL_CLIPS} with --real-labels)",
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="best.pt: also project the model's penultimate features",
    )
    p.add_argument("--labels-only", action="store_true", help="skip audio (labels part only)")
    p.add_argument(
        "--max-clips",
        type=int,
        default=None,
        help="deterministic subsample of clips for the audio parts",
    )
    p.add_argument("--top-k", type=int, default=10, help="most frequent tags to study")
    p.add_argument("--workers", type=int, default=2, help="descriptor worker processes")
    p.add_argument("--seed", type=int, default=0, help="subsampling / t-SNE seed")
    p.add_argument("--knn-k", type=int, default=10, help="neighbours for k-NN purity")
    p.add_argument("--tsne-max", type=int, default=2000, help="most clips in a t-SNE")
    p.add_argument(
        "--data-kind",
        choices=("auto", "real", "synthetic"),
        default="auto",
        help="label an MTAT root as real or synthetic (auto: match its clips against "
        "the real MTAT clip list)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """CLI entry point."""
    if args.max_clips is not None and args.max_clips < 1:
        raise SystemExit("--max-clips must be positive")
    if args.checkpoint is not None and (args.labels_only or args.mtat_root is None):
        raise SystemExit("--checkpoint needs audio: give --mtat-root without --labels-only")
    cfg = AnalyzeConfig(
        top_k=args.top_k,
        max_clips=args.max_clips,
        workers=args.workers,
        seed=args.seed,
        knn_k=args.knn_k,
        tsne_max=args.tsne_max,
        progress=not args.no_progress,
    )
    desc = None
    table = args.labels_table
    total = args.total_clips
    if args.real_labels:
        table = data_file(REAL_LABELS_TABLE)
        total = MTAT_TOTAL_CLIPS if total is None else total
        desc = (
            f"**real MTAT labels**: the packaged top-10 label table `training/data/"
            f"{REAL_LABELS_TABLE}` (labels only, no audio; {MTAT_TOTAL_CLIPS} clips in "
            "MTAT's annotations_final.csv)"
        )
    summary = analyze(
        args.out,
        cfg,
        mtat_root=args.mtat_root,
        labels_table=table,
        total_clips=total,
        labels_only=args.labels_only,
        checkpoint=args.checkpoint,
        command=_command_line(args),
        data_description=desc,
        data_kind=args.data_kind,
    )
    print(f"wrote {args.out / 'report.md'} ({summary['data']}, {summary['n_total']} clips)")
    return 0
