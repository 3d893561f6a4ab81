"""Cluster quality: silhouettes and k-NN purity, with and without same-song neighbours."""

from __future__ import annotations

import numpy as np
import pytest

from training.study.clusters import cluster_quality, song_key


def test_cluster_quality_measures_structure() -> None:
    rng = np.random.default_rng(0)
    n = 200
    lab = (np.arange(n) < 60).astype(int)
    clustered = rng.normal(size=(n, 5)) + 6 * lab[:, None]
    random = rng.normal(size=(n, 5))
    good = cluster_quality(clustered, lab[:, None], ["t"], k=10)[0]
    none = cluster_quality(random, lab[:, None], ["t"], k=10)[0]
    assert good["silhouette"] > 0.5 and good["knn_purity"] > 0.95
    assert good["enrichment"] > 3
    assert abs(none["silhouette"]) < 0.1 and 0.6 < none["enrichment"] < 1.5
    assert none["base_rate"] == pytest.approx(59 / 199)


def test_knn_purity_excludes_same_song_neighbours() -> None:
    # Songs of 4 near-identical clips, song tags random: all neighbours of a clip are its own
    # song, so raw purity is high, but across songs there is no structure at all.
    rng = np.random.default_rng(0)
    n_songs = 60
    centres = rng.normal(size=(n_songs, 4))
    z = np.repeat(centres, 4, axis=0) + 1e-3 * rng.normal(size=(4 * n_songs, 4))
    lab = np.repeat(rng.random(n_songs) < 0.3, 4).astype(int)
    songs = [
        song_key(f"0/artist-album-{i // 4:02d}-song-{30 * (i % 4)}-{30 * (i % 4) + 29}.mp3")
        for i in range(4 * n_songs)
    ]
    assert len(set(songs)) == n_songs
    r = cluster_quality(z, lab[:, None], ["t"], k=3, groups=songs)[0]
    assert r["knn_purity"] == pytest.approx(1.0)
    assert r["enrichment_xsong"] < 2.0 < r["enrichment"]
