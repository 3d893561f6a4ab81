"""Part 3 of the report: PCA/t-SNE figures and cluster quality of descriptors and embeddings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tagging.constants import EVAL_CHUNKS
from training.study.clusters import cluster_quality, song_key
from training.study.config import AnalyzeConfig
from training.study.embeddings import checkpoint_embeddings
from training.study.figures import scatter_figure
from training.study.projections import projections, standardize
from training.study.report import fmt_f


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
        space_md, head[key] = _space(key, desc, z, y, tags, out, cfg, rel_paths)
        md += space_md
    if emb_info is not None:
        head["checkpoint"] = emb_info
        md += [
            f"Embeddings from `{emb_info['checkpoint']}` (epoch {emb_info['epoch']}, "
            f"{emb_info['metric_name']} = {fmt_f(emb_info['metric'])}): input of the final Linear "
            f"layer captured by a forward hook, averaged over {EVAL_CHUNKS} evenly spaced "
            "chunks per clip.",
            "",
        ]
    return md, head


def _space(
    key: str,
    desc: str,
    z: np.ndarray,
    y: np.ndarray,
    tags: Sequence[str],
    out: Path,
    cfg: AnalyzeConfig,
    rel_paths: list[str],
) -> tuple[list[str], dict[str, Any]]:
    """One feature space: PCA and t-SNE figures, cluster-quality table and summary sentence."""
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
    md = [
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
            f"| {r['tag']} | {r['n_pos']} | {fmt_f(r['silhouette'])} | "
            f"{fmt_f(r['knn_purity'])} | {fmt_f(r['base_rate'])} | "
            f"{fmt_f(r['enrichment'], '.2f')} | {fmt_f(r['knn_purity_xsong'])} | "
            f"{fmt_f(r['base_rate_xsong'])} | {fmt_f(r['enrichment_xsong'], '.2f')} |"
        )
    mean_sil = float(np.mean(sil)) if sil else math.nan
    verdict = _verdict(sil)
    md += [
        "",
        f"Silhouettes range {fmt_f(min(sil) if sil else math.nan)} .. "
        f"{fmt_f(max(sil) if sil else math.nan)} (mean {fmt_f(mean_sil)}; highest: "
        f"{best_sil['tag']}): {verdict}. k-NN purity over base rate (enrichment) "
        f"ranges {fmt_f(min(enr) if enr else math.nan, '.2f')} .. "
        f"{fmt_f(max(enr) if enr else math.nan, '.2f')} (highest: {best_enr['tag']}, "
        f"{fmt_f(best_enr['knn_purity'])} vs {fmt_f(best_enr['base_rate'])}); with the own "
        f"song's clips excluded it ranges {fmt_f(min(enr_x) if enr_x else math.nan, '.2f')} .. "
        f"{fmt_f(max(enr_x) if enr_x else math.nan, '.2f')} (mean "
        f"{fmt_f(float(np.mean(enr_x)) if enr_x else math.nan, '.2f')}).",
        "",
    ]
    head = {
        "explained_2": [float(ev[0]), float(ev[1])],
        "mean_silhouette": mean_sil,
        "max_silhouette": max(sil) if sil else None,
        "per_tag": {r["tag"]: {k: v for k, v in r.items() if k != "tag"} for r in cq},
    }
    return md, head


def _verdict(sil: list[float]) -> str:
    """The best silhouette on Kaufman & Rousseeuw's (1990) scale: < 0.25 no substantial
    structure, 0.26-0.50 weak, 0.51-0.70 reasonable, > 0.70 strong."""
    if not sil:
        return "silhouettes undefined"
    top = max(sil)
    scale = (
        "no substantial"
        if top <= 0.25
        else "weak"
        if top <= 0.5
        else "reasonable"
        if top <= 0.7
        else "strong"
    )
    return f"on Kaufman & Rousseeuw's scale even the best tag shows {scale} cluster structure"
