"""The study's figures (matplotlib): label bars and heatmaps, descriptor boxes and violins, scatters."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.study.descriptors import DESCRIPTOR_NAMES, DESCRIPTOR_UNITS, SCALAR_DESCRIPTORS
from training.study.labels import LabelStats


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
