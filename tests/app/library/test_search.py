"""app.library.search over a real LanceDB library in the contract's schema: exact and indexed
nearest neighbours against a numpy brute force, the model check, tag search, stats, index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.errors import InvalidOptionError, ModelMismatchError, NotALibraryError, UnknownTrackError
from app.library.schema import TABLE, LibraryManifest, track_id
from app.library.search import INDEX_FILE, Library, QueryOptions
from tests.app.library.rows import Row, write_library

TAGS = ["guitar", "classical", "strings", "drums", "piano"]
DIM = 16


def clustered(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """(n, dim) float32 around 8 random centres (embeddings cluster by genre, not uniformly)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, dim))
    return (centres[rng.integers(0, 8, n)] + 0.4 * rng.normal(size=(n, dim))).astype(np.float32)


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    distance = 1.0 - unit @ (query / np.linalg.norm(query))
    return list(np.argsort(distance, kind="stable")[:k])


def make(folder: Path, n: int = 300, errors: int = 2, **kwargs: object) -> np.ndarray:
    vectors = clustered(n)
    rng = np.random.default_rng(1)
    rows = []
    for i, v in enumerate(vectors):
        probs = rng.uniform(0, 1, len(TAGS)).astype(np.float32)
        labels = [t for t, p in zip(TAGS, probs, strict=True) if p >= 0.5]
        rows.append(Row(f"/music/a/{i:04d}.mp3", v, probs, labels, rel_path=f"a/{i:04d}.mp3"))
    rows += [Row(f"/music/bad{i}.mp3", None, error="damaged MP3") for i in range(errors)]
    write_library(folder, rows, TAGS, **kwargs)
    return vectors


def test_exact_nearest_is_the_brute_force_ranking(tmp_path: Path) -> None:
    vectors = make(tmp_path)
    library = Library(tmp_path)
    assert not library.uses_index()
    query = clustered(1, seed=9)[0]
    got = library.nearest(query, 10, "alpha", "1")
    want = brute_force(vectors, query, 10)
    assert [m.id for m in got] == [track_id(f"/music/a/{i:04d}.mp3") for i in want]
    assert [m.path for m in got] == [f"a/{i:04d}.mp3" for i in want]
    distances = [m.distance for m in got]
    assert distances == sorted(distances) and 0 <= distances[0] <= 2


def test_similar_to_leaves_the_track_out_and_knows_its_ids(tmp_path: Path) -> None:
    vectors = make(tmp_path)
    library = Library(tmp_path)
    me = track_id("/music/a/0007.mp3")
    got = library.similar_to(me, 5)
    assert me not in [m.id for m in got] and len(got) == 5
    want = [i for i in brute_force(vectors, vectors[7], 6) if i != 7][:5]
    assert [m.path for m in got] == [f"a/{i:04d}.mp3" for i in want]
    with pytest.raises(UnknownTrackError, match="no track with id"):
        library.similar_to("0123456789abcdef", 5)
    with pytest.raises(UnknownTrackError):
        library.similar_to("x' OR '1'='1", 5)  # never reaches the filter
    with pytest.raises(UnknownTrackError, match="damaged MP3"):
        library.similar_to(track_id("/music/bad0.mp3"), 5)


def test_a_query_from_another_model_is_refused(tmp_path: Path) -> None:
    make(tmp_path, model="alpha", version="3")
    library = Library(tmp_path)
    query = clustered(1)[0]
    for model, version, vec in [
        ("beta", "3", query),
        ("alpha", "2", query),
        ("alpha", "3", query[:8]),
    ]:
        with pytest.raises(ModelMismatchError, match="built with model 'alpha' version 3") as e:
            library.nearest(vec, 3, model, version)
        assert e.value.extra == {"library_model": "alpha", "query_model": model}
    assert len(library.nearest(query, 3, "alpha", "3")) == 3
    with pytest.raises(InvalidOptionError, match="all zeros or not finite"):
        library.nearest(np.zeros(DIM, np.float32), 3, "alpha", "3")


def test_search_by_decided_labels_and_exclusions(tmp_path: Path) -> None:
    make(tmp_path)
    library = Library(tmp_path)
    rows = library.table.search().where("status = 'ok'").limit(1000).to_list()
    want = [
        r
        for r in rows
        if {"classical", "strings"} <= set(r["labels"]) and "drums" not in r["labels"]
    ]
    result = library.search(["classical", "strings"], ["drums"], limit=5)
    assert result.total == len(want) > 5
    assert len(result.tracks) == 5
    for m in result.tracks:
        assert {"classical", "strings"} <= set(m.labels) and "drums" not in m.labels
    scores = [m.score for m in result.tracks]
    best = sorted(
        (np.mean([r["probabilities"][1], r["probabilities"][2]]) for r in want), reverse=True
    )
    assert scores == sorted(scores, reverse=True)
    assert scores == pytest.approx(best[:5], abs=1e-4)
    with pytest.raises(InvalidOptionError, match="unknown labels 'cello'"):
        library.search(["cello"], [], 5)
    with pytest.raises(InvalidOptionError, match="unknown exclude"):
        library.search(["piano"], ["banjo"], 5)


def test_search_without_decisions_thresholds_probabilities(tmp_path: Path) -> None:
    make(tmp_path, decision_policy=None)
    library = Library(tmp_path, QueryOptions(label_threshold=0.7))
    rows = library.table.search().where("status = 'ok'").limit(1000).to_list()
    want = {r["id"] for r in rows if r["probabilities"][4] >= 0.7 and r["probabilities"][0] < 0.7}
    result = library.search(["piano"], ["guitar"], limit=1000)
    assert {m.id for m in result.tracks} == want and result.total == len(want) > 0


def test_stats_and_an_index_only_when_big_enough(tmp_path: Path) -> None:
    vectors = make(tmp_path, n=600)
    library = Library(tmp_path, QueryOptions(exact_below=500, index_min_rows=1000))
    stats = library.stats()
    assert (stats["tracks"], stats["ok"], stats["errors"]) == (602, 600, 2)
    assert stats["model"] == "alpha" and stats["index"] is None and stats["search"] == "exact"
    assert library.build_index() is None and library.index() is None
    info = library.build_index(force=True)
    assert info is not None and info.kind == "IVF_PQ" and info.rows == 600
    assert json.loads((tmp_path / INDEX_FILE).read_text())["params"] == info.params
    assert library.uses_index() and library.stats()["search"] == "ann"
    assert library.stats()["index"]["unindexed_rows"] == 0
    hits = sum(
        library.nearest(v, 1, "alpha", "1")[0].path == f"a/{i:04d}.mp3"
        for i, v in enumerate(vectors[:50])
    )
    assert hits >= 48  # each stored vector finds itself through the index (PQ + re-ranking)


def test_a_folder_that_is_not_a_library(tmp_path: Path) -> None:
    with pytest.raises(NotALibraryError, match="no library.json"):
        Library(tmp_path)
    LibraryManifest(model="alpha", model_version="1", tags=TAGS, embedding_size=DIM).write(tmp_path)
    with pytest.raises(NotALibraryError, match=f"table '{TABLE}' cannot be opened"):
        Library(tmp_path)
    (tmp_path / "library.json").write_text("{not json")
    with pytest.raises(NotALibraryError, match="cannot be read"):
        Library(tmp_path)


def test_refresh_index_after_a_build_only_when_needed(tmp_path: Path) -> None:
    make(tmp_path, n=300)
    library = Library(tmp_path, QueryOptions(exact_below=200, index_min_rows=256))
    first = library.refresh_index()
    assert first is not None and first.rows == 300  # big enough, no index yet
    assert library.refresh_index() is None  # nothing added since
    added = library.table.to_arrow().slice(0, 40)  # 40 more tracks: over 10 % unindexed
    ids = [f"new{i:013d}" for i in range(40)]
    added = added.set_column(added.schema.get_field_index("id"), "id", [ids])
    library.table.add(added)
    again = library.refresh_index()
    assert again is not None and again.rows == 340
    assert library.stats()["index"]["unindexed_rows"] == 0
