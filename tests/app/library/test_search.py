"""app.library.search over a real LanceDB library in the contract's schema: exact and indexed
nearest neighbours against a numpy brute force, the re-rank by chunk matching, the model check,
tag search, stats, index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.errors import InvalidOptionError, ModelMismatchError, NotALibraryError, UnknownTrackError
from app.library.chunks import stored
from app.library.rows import RowModel, ok_row, to_table
from app.library.schema import TABLE, LibraryManifest, track_id
from app.library.search import INDEX_FILE, Library, QueryOptions
from app.library.store import LibraryWriter
from app.tagger import TagResult
from tagging.decisions import DecisionRule
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


def maxsim_distance(query: np.ndarray, track: np.ndarray) -> float:
    """1 - the mean over the query's chunks of their best cosine with the track's, plainly."""
    q = query / np.linalg.norm(query, axis=1, keepdims=True)
    t = track / np.linalg.norm(track, axis=1, keepdims=True)
    return float(1 - np.mean([max(float(a @ b) for b in t) for a in q]))


def make(
    folder: Path, n: int = 300, errors: int = 2, chunks: int = 0, **kwargs: object
) -> np.ndarray:
    """``n`` tracks of :func:`clustered` vectors (and ``errors`` error rows); ``chunks``: each
    track keeps that many chunk embeddings, its vector plus noise (:func:`chunks_of`)."""
    vectors = clustered(n)
    rng = np.random.default_rng(1)
    rows = []
    for i, v in enumerate(vectors):
        probs = rng.uniform(0, 1, len(TAGS)).astype(np.float32)
        labels = [t for t, p in zip(TAGS, probs, strict=True) if p >= 0.5]
        mine = chunks_of(v, chunks, seed=i) if chunks else None
        rows.append(
            Row(f"/music/a/{i:04d}.mp3", v, probs, labels, rel_path=f"a/{i:04d}.mp3", chunks=mine)
        )
    rows += [Row(f"/music/bad{i}.mp3", None, error="damaged MP3") for i in range(errors)]
    write_library(folder, rows, TAGS, **kwargs)
    return vectors


def chunks_of(vector: np.ndarray, n: int, seed: int) -> np.ndarray:
    """(n, D) float32: ``vector`` plus noise per chunk (as a track's chunks spread round their
    mean), the same for the same seed."""
    noise = np.random.default_rng(1000 + seed).normal(size=(n, len(vector)))
    return (vector + 0.5 * noise).astype(np.float32)


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


def test_similar_to_re_ranks_by_the_tracks_stored_chunks(tmp_path: Path) -> None:
    """With chunk embeddings kept: the best ``rerank`` tracks by clip embedding (itself left
    out), ordered by chunk matching against the track's own stored chunks."""
    vectors = make(tmp_path, chunks=3)
    library = Library(tmp_path, QueryOptions(rerank=20))
    assert library.reranks() and library.manifest.chunk_embeddings == 32
    stored_chunks = [
        stored(chunks_of(v, 3, seed=i), 32).astype(np.float32) for i, v in enumerate(vectors)
    ]
    me = 7
    candidates = [i for i in brute_force(vectors, vectors[me], 21) if i != me][:20]
    want = sorted(candidates, key=lambda i: maxsim_distance(stored_chunks[me], stored_chunks[i]))
    got = library.similar_to(track_id(f"/music/a/{me:04d}.mp3"), 5)
    assert [m.path for m in got] == [f"a/{i:04d}.mp3" for i in want[:5]]
    assert [m.distance for m in got] == pytest.approx(
        [maxsim_distance(stored_chunks[me], stored_chunks[i]) for i in want[:5]], abs=1e-5
    )
    by_clip = [f"a/{i:04d}.mp3" for i in candidates[:5]]
    assert [m.path for m in got] != by_clip  # the chunks reordered the clip embedding's answer
    clip_only = Library(tmp_path, QueryOptions(rerank=0))  # TAGGER_LIBRARY_RERANK=0
    assert [m.path for m in clip_only.similar_to(track_id(f"/music/a/{me:04d}.mp3"), 5)] == by_clip


def tagged(chunks: np.ndarray) -> TagResult:
    """What the tagger gives for a file whose chunks have these embeddings ((n, D))."""
    return TagResult(
        model=None,  # type: ignore[arg-type]  # the rows take nothing from the model
        probabilities=np.full(len(TAGS), 0.5, np.float32),
        embedding=chunks.mean(axis=0),
        chunk_embeddings=chunks,
        segments=None,
        duration_s=30.0,
        n_chunks=len(chunks),
        heard_s=30.0,
        decode_ms=0.0,
        inference_ms=0.0,
        total_ms=0.0,
    )


def test_chunk_matching_finds_the_original_the_clip_embedding_ranks_second(
    tmp_path: Path,
) -> None:
    """A query of two chunks (directions e0, e1). The original holds both among other chunks,
    so its clip mean leans away; a look-alike's chunks all point at the query's mean. The clip
    embedding ranks the look-alike first, chunk matching the original (distance 0)."""
    eye = np.eye(8, dtype=np.float32)
    query = eye[[0, 1]]  # (2, 8)
    mean = query.mean(axis=0)
    tracks = {
        "original.mp3": eye[[0, 0, 2, 2, 2, 2, 1, 1]],  # pooled to 4: e0, e2, e2, e1
        "lookalike.mp3": np.stack([mean, mean]),
        **{f"other{i}.mp3": np.stack([eye[3 + i], eye[3 + (i + 1) % 5]]) for i in range(5)},
    }
    manifest = LibraryManifest(
        model="alpha", model_version="1", tags=TAGS, embedding_size=8, chunk_embeddings=4
    )
    writer = LibraryWriter.open(tmp_path, manifest)
    model = RowModel("alpha", "1", TAGS, DecisionRule("none", None, "no thresholds"), 4)
    entries = [{"path": f"/m/{n}", "rel_path": n, "size": 1, "mtime": 0.0} for n in tracks]
    writer.add(
        to_table(
            [
                ok_row(e, b"x", tagged(c), model)
                for e, c in zip(entries, tracks.values(), strict=True)
            ],
            writer.schema,
        )
    )
    writer.finish()
    library = Library(tmp_path)
    kept = library.table.to_arrow().to_pylist()
    original = next(r for r in kept if r["rel_path"] == "original.mp3")["chunk_embeddings"]
    np.testing.assert_array_equal(original, eye[[0, 2, 2, 1]])  # 8 chunks pooled to 4

    by_clip = library.nearest(mean, 3, "alpha", "1")
    assert [m.path for m in by_clip[:2]] == ["lookalike.mp3", "original.mp3"]
    assert by_clip[0].distance == pytest.approx(0.0, abs=1e-6)
    by_chunks = library.nearest(mean, 3, "alpha", "1", chunks=query)
    assert [m.path for m in by_chunks[:2]] == ["original.mp3", "lookalike.mp3"]
    assert [m.distance for m in by_chunks[:2]] == pytest.approx([0.0, 1 - np.sqrt(0.5)], abs=1e-3)
    # The re-rank's candidates are the clip embedding's best max(k, rerank): with rerank 1 and
    # k 1 only the look-alike is a candidate; rerank 0 is the clip embedding alone.
    assert (
        Library(tmp_path, QueryOptions(rerank=1))
        .nearest(mean, 1, "alpha", "1", chunks=query)[0]
        .path
        == "lookalike.mp3"
    )
    assert (
        Library(tmp_path, QueryOptions(rerank=2))
        .nearest(mean, 1, "alpha", "1", chunks=query)[0]
        .path
        == "original.mp3"
    )
    off = Library(tmp_path, QueryOptions(rerank=0)).nearest(mean, 3, "alpha", "1", chunks=query)
    assert [(m.path, m.distance) for m in off] == [(m.path, m.distance) for m in by_clip]
    with pytest.raises(InvalidOptionError, match=r"chunk embeddings are \(2, 4\)"):
        library.nearest(mean, 3, "alpha", "1", chunks=query[:, :4])


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
    vectors = make(tmp_path, n=600, chunks=4)
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
    found = [
        library.nearest(v, 1, "alpha", "1", chunks=chunks_of(v, 4, seed=i))[0]
        for i, v in enumerate(vectors[:50])
    ]
    itself = [m for i, m in enumerate(found) if m.path == f"a/{i:04d}.mp3"]
    assert len(itself) >= 48  # and through the index, then the re-rank by its chunks
    assert all(m.distance is not None and m.distance < 1e-3 for m in itself)  # its own chunks


def test_a_folder_that_is_not_a_library(tmp_path: Path) -> None:
    with pytest.raises(NotALibraryError, match="no library.json"):
        Library(tmp_path)
    LibraryManifest(model="alpha", model_version="1", tags=TAGS, embedding_size=DIM).write(tmp_path)
    with pytest.raises(NotALibraryError, match=f"table '{TABLE}' cannot be opened"):
        Library(tmp_path)
    (tmp_path / "library.json").write_text("{not json")
    with pytest.raises(NotALibraryError, match="cannot be read"):
        Library(tmp_path)


def test_a_library_of_layout_version_1_is_refused(tmp_path: Path) -> None:
    """Version 1 had no chunk embeddings: rebuild it."""
    make(tmp_path, n=10)
    old = LibraryManifest.read(tmp_path).model_copy(update={"library_version": 1})
    old.write(tmp_path)
    with pytest.raises(NotALibraryError, match="has library version 1; .* version 2: rebuild it"):
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
