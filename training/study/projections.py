"""Feature spaces drawn in 2-D: z-scoring, PCA and t-SNE (van der Maaten & Hinton 2008)."""

from __future__ import annotations

from typing import Any

import numpy as np


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
