"""The library routes over a real mounted LanceDB library, in process (TestClient, real app,
real models): 404 without a library, GET /library, /library/{id}/similar, /library/search, the
limits (422), the model check (409), start-up refusals and the API keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.library.chunks import maxsim_distances, stored
from app.library.schema import track_id
from app.main import create_app
from tests.app.library.rows import Row, write_library
from tests.app.library.test_search import brute_force, clustered
from tests.app.support import TAGS50, server_env
from tests.paths import REPO

N = 120


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """120 tracks of model beta ("test" version, the support cards' code_version)."""
    folder = tmp_path_factory.mktemp("library")
    vectors = clustered(N)
    rng = np.random.default_rng(3)
    rows = []
    for i, v in enumerate(vectors):
        probs = rng.uniform(0, 1, 10).astype(np.float32)
        labels = [t for t, p in zip(TAGS50[:10], probs, strict=True) if p >= 0.5]
        rows.append(
            Row(f"/srv/music/{i:03d}.ogg", v, probs, labels, 60.0 + i, rel_path=f"{i:03d}.ogg")
        )
    rows.append(Row("/srv/music/broken.mp3", None, error="could not decode: broken MP3"))
    write_library(folder, rows, list(TAGS50[:10]), model="beta", version="test")
    return folder, vectors


@pytest.fixture(scope="module")
def client(models_dir: Path, library: tuple[Path, np.ndarray]) -> Iterator[TestClient]:
    settings = Settings(
        models_dir=models_dir, providers="cpu", library=library[0], library_max_k=20
    )
    with TestClient(create_app(settings)) as c:
        yield c


def test_without_a_library_every_route_is_404(models_dir: Path) -> None:
    with TestClient(create_app(Settings(models_dir=models_dir, providers="cpu"))) as c:
        answers = [
            c.get("/library"),
            c.get("/library/search?labels=rock"),
            c.get(f"/library/{'0' * 16}/similar"),
            c.post("/similar", files={"file": ("a.wav", b"RIFF")}),
        ]
        status = c.get("/library/status")
    assert status.status_code == 200 and status.json() == {
        "mounted": False,
        "tracks": None,
        "model": None,
    }
    for r in answers:
        assert r.status_code == 404, r.text
        assert (
            "no library is mounted: start the service with TAGGER_LIBRARY=DIR" in r.json()["detail"]
        )


def test_library_describes_itself(client: TestClient) -> None:
    info = client.get("/library").json()
    assert (info["tracks"], info["ok"], info["errors"]) == (N + 1, N, 1)
    assert info["model"] == "beta" and info["model_version"] == "test"
    assert info["embedding_size"] == 16 and info["tags"] == list(TAGS50[:10])
    assert info["index"] is None and info["search"] == "exact"
    status = client.get("/library/status").json()
    assert status == {"mounted": True, "tracks": N, "model": "beta"}


def test_similar_to_a_library_track(client: TestClient, library: tuple[Path, np.ndarray]) -> None:
    vectors = library[1]
    me = track_id("/srv/music/005.ogg")
    body = client.get(f"/library/{me}/similar?k=4").json()
    assert body["query"]["id"] == me and body["query"]["path"] == "005.ogg"
    want = [i for i in brute_force(vectors, vectors[5], 5) if i != 5][:4]
    assert [t["path"] for t in body["tracks"]] == [f"{i:03d}.ogg" for i in want]
    assert all(t["duration_s"] == 60.0 + i for t, i in zip(body["tracks"], want, strict=True))
    assert body["search"] == "exact" and body["model"] == "beta"
    assert "/srv/music" not in str(body)  # absolute paths stay on the server
    assert len(client.get(f"/library/{me}/similar").json()["tracks"]) == 10  # default k


def test_unknown_track_and_bad_params(client: TestClient) -> None:
    r = client.get(f"/library/{'0' * 16}/similar")
    assert r.status_code == 404 and "no track with id" in r.json()["detail"]
    r = client.get(f"/library/{track_id('/srv/music/broken.mp3')}/similar")
    assert r.status_code == 404 and "broken MP3" in r.json()["detail"]
    r = client.get(f"/library/{track_id('/srv/music/001.ogg')}/similar?k=21")
    assert r.status_code == 422 and "TAGGER_LIBRARY_MAX_K" in r.json()["detail"]
    assert client.get(f"/library/{track_id('/srv/music/001.ogg')}/similar?k=0").status_code == 422
    r = client.get("/library/search?labels=rock,cello")
    assert r.status_code == 422 and "unknown labels 'cello'" in r.json()["detail"]
    assert client.get("/library/search?labels=rock&limit=501").status_code == 422
    assert client.get("/library/search").status_code == 422


def test_search_by_labels(client: TestClient, library: tuple[Path, np.ndarray]) -> None:
    body = client.get("/library/search?labels=guitar,%20rock&exclude=drums&limit=3").json()
    assert body["labels"] == ["guitar", "rock"] and body["exclude"] == ["drums"]
    assert body["decided_by"] == "labels" and body["total"] >= len(body["tracks"]) > 0
    for t in body["tracks"]:
        assert {"guitar", "rock"} <= set(t["labels"]) and "drums" not in t["labels"]
    scores = [t["score"] for t in body["tracks"]]
    assert scores == sorted(scores, reverse=True)


def test_an_upload_for_another_model_is_refused_before_its_body(client: TestClient) -> None:
    r = client.post("/similar?model=alpha", files={"file": ("a.wav", b"not read")})
    assert r.status_code == 409
    body = r.json()
    assert body["library_model"] == "beta" and body["query_model"] == "alpha"
    assert "built with model 'beta'" in body["detail"]


def test_start_up_refuses_a_folder_that_is_not_a_library(models_dir: Path, tmp_path: Path) -> None:
    application = create_app(Settings(models_dir=models_dir, providers="cpu", library=tmp_path))
    with (
        pytest.raises(RuntimeError, match="TAGGER_LIBRARY: .* is not a library"),
        TestClient(application),
    ):
        pass


def test_start_up_refuses_a_library_of_an_unknown_model(models_dir: Path, tmp_path: Path) -> None:
    write_library(tmp_path, [Row("/a.mp3", np.ones(4, np.float32))], ["rock"], model="zeta")
    application = create_app(Settings(models_dir=models_dir, providers="cpu", library=tmp_path))
    with (
        pytest.raises(RuntimeError, match="TAGGER_LIBRARY: unknown model 'zeta'"),
        TestClient(application),
    ):
        pass


def test_the_library_needs_the_api_key(models_dir: Path, library: tuple[Path, np.ndarray]) -> None:
    settings = Settings(models_dir=models_dir, providers="cpu", library=library[0], api_keys="k1")
    with TestClient(create_app(settings)) as c:
        assert c.get("/library").status_code == 401
        assert c.get("/library/search?labels=rock").status_code == 401
        assert c.get("/library", headers={"Authorization": "Bearer k1"}).status_code == 200


NO_LIBRARY_EXTRA = """
import importlib.abc, json, sys

BLOCKED = ("lancedb", "pyarrow", "ray")


class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked: {name}")
        return None


sys.meta_path.insert(0, Block())
from fastapi.testclient import TestClient
import app.main

with TestClient(app.main.create_app()) as client:
    got = [client.get(p).status_code for p in ("/readyz", "/library/status", "/library")]
print(json.dumps(got))
"""


def test_the_service_needs_no_library_extra_without_a_library(models_dir: Path) -> None:
    """The serving image has no LanceDB, pyarrow or Ray (they are the library extra's): without
    TAGGER_LIBRARY the app starts and answers with them unimportable."""
    env = {**os.environ, **server_env(models_dir, TAGGER_PROVIDERS="cpu"), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", NO_LIBRARY_EXTRA],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [200, 200, 404]


def test_similar_upload_over_embeddings_of_a_real_session(models_dir: Path, tmp_path: Path) -> None:
    """Rows whose embeddings and chunk embeddings beta's real onnxruntime session computed
    (through the service's Tagger) from the real recordings: an upload of one of them finds
    itself first, the others ordered by chunk matching (and by clip embedding with
    TAGGER_LIBRARY_RERANK=0)."""
    import asyncio

    from app.registry import ModelRegistry
    from app.tagger import Tagger
    from tests.paths import BRAHMS_STRINGS, MTAT_CLIP

    settings = Settings(models_dir=models_dir, providers="cpu")
    registry = ModelRegistry(settings)
    beta = registry.get("beta")
    tagger = Tagger(settings, registry)
    files = [*sorted((REPO / "tests" / "data" / "real").glob("*.ogg")), MTAT_CLIP]
    try:
        results = [asyncio.run(tagger.tag(f.read_bytes(), beta)) for f in files]
    finally:
        tagger.close()
    rows = [
        Row(str(f), r.embedding, r.probabilities, [], r.duration_s, chunks=r.chunk_embeddings)
        for f, r in zip(files, results, strict=True)
    ]
    write_library(tmp_path, rows, list(beta.tags), model="beta", version=beta.card.version)
    query = results[files.index(BRAHMS_STRINGS)]
    by_chunks = {
        f.name: float(maxsim_distances(query.chunk_embeddings, [stored(r.chunk_embeddings, 32)])[0])
        for f, r in zip(files, results, strict=True)
    }
    unit = query.embedding / np.linalg.norm(query.embedding)
    by_clip = {
        f.name: float(1 - unit @ r.embedding / np.linalg.norm(r.embedding))
        for f, r in zip(files, results, strict=True)
    }
    for rerank, want in [(50, by_chunks), (0, by_clip)]:
        served = settings.model_copy(update={"library": tmp_path, "library_rerank": rerank})
        with TestClient(create_app(served)) as c:
            r = c.post("/similar?k=4", files={"file": ("q.ogg", BRAHMS_STRINGS.read_bytes())})
        assert r.status_code == 200, r.text
        tracks = r.json()["tracks"]
        assert tracks[0]["path"] == BRAHMS_STRINGS.name and tracks[0]["distance"] < 1e-5
        assert [t["path"] for t in tracks] == sorted(want, key=want.__getitem__)
        assert [t["distance"] for t in tracks] == pytest.approx(sorted(want.values()), abs=1e-4)
    assert by_chunks != pytest.approx(by_clip, abs=1e-3)  # two different distances
