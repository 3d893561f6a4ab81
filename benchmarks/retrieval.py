"""Retrieval quality on real audio: does a degraded copy of a library track find its original?

``nice python -m benchmarks.retrieval [--synthetic 30] [--model NAME] --out reports/library``

1. The library's tracks (``--work/originals``): the shared real recordings copied in
   tests/data/real (Brahms' Hungarian Dance No. 5, Vibe Ace, a solo trumpet), the MTAT clip of
   tests/data, and ``--synthetic`` clips of the project's synthetic-MTAT generator
   (:func:`training.data.synth.render_clip`, numpy only; one song each, latent tag sets cycling
   through MTAT's common combinations, so several sound alike), written as MP3. tests/data's
   2-s Jamendo clip is left out: shorter than the 3-s shift.
2. The library is built by the real build (:func:`app.library.build.build`: Ray Data, the
   service's tagger in actors, LanceDB) with ``--model`` (default: the service's default).
3. Each track's query copy: decoded, its first 3 s cut (the copy starts 3 s later), encoded
   MP3 128 kb/s (LAME via PyAV), decoded, encoded Opus 64 kb/s (libopus, 48 kHz, Ogg), then tagged
   through :meth:`app.tagger.Tagger.tag` with the library's model and queried with
   :meth:`app.library.search.Library.nearest` over the whole library, twice: as the service
   queries (its clip embedding takes candidates, its chunk embeddings re-rank them by chunk
   matching: ``TAGGER_LIBRARY_RERANK``, :mod:`app.library.chunks`), and by the clip embedding
   alone (re-rank 0).
4. Reported: each track's rank of its original (1 = found first) and the fraction found first,
   for both (``found_first``: the service's; ``clip_only``: the clip embedding's).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np

from app.config import Settings
from app.library.schema import track_id
from app.library.search import Library, Match, QueryOptions
from tagging.audio import encode_mp3, load

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
SHIFT_S = 3.0
COMBOS = (  # latent tag sets of the synthetic songs (among the generator's ten tags)
    ("classical", "strings"),
    ("techno", "electronic", "drums"),
    ("rock", "guitar", "drums"),
    ("classical", "piano"),
    ("slow", "strings"),
    ("fast", "rock", "drums"),
    ("guitar",),
    ("electronic", "fast"),
    ("classical", "strings", "slow"),
    ("piano", "slow"),
)


def real_tracks() -> list[Path]:
    """The shared real recordings (tests/data/real) and the MTAT clip: those longer than 4 s."""
    found = sorted((DATA / "real").glob("*.ogg")) + [
        DATA / "joram-moments_of_clarity-08-solipsism-59-88.mp3"
    ]
    return [p for p in found if p.exists()]


def synthetic_tracks(folder: Path, n: int, seed: int = 7) -> list[Path]:
    """``n`` 29.1-s clips of the synthetic generator, one song each, as MP3 at 16 kHz."""
    from training.data.synth import render_clip

    paths = []
    for i in range(n):
        latent = COMBOS[i % len(COMBOS)]
        path = folder / f"synth_{i:02d}_{'-'.join(latent)}.mp3"
        if not path.exists():
            encode_mp3(render_clip(latent, seed, song=i, segment=0), path, 16_000)
        paths.append(path)
    return paths


def encode(x: np.ndarray, sr: int, codec: str, rate: int, bit_rate: int, fmt: str) -> bytes:
    """Mono float32 ``x`` at ``sr`` -> ``codec`` at ``rate`` Hz and ``bit_rate`` b/s in ``fmt``
    (FFmpeg through PyAV; its resampler feeds the codec's frame size)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate)
        cc = stream.codec_context
        cc.layout = "mono"
        cc.format = cc.codec.audio_formats[0].name
        cc.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(
            x[None, :].astype(np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = sr
        frame.pts = 0
        size = 960 if codec == "libopus" else 1152
        resampler = av.AudioResampler(cc.format.name, "mono", rate, frame_size=size)
        for f in resampler.resample(frame) + resampler.resample(None):
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    return buf.getvalue()


def degrade(path: Path, rate: int = 44_100) -> bytes:
    """The query copy of ``path``: 3 s later, MP3 128 kb/s, then Opus 64 kb/s (Ogg)."""
    x, _ = load(path, rate)  # mono float32 at 44.1 kHz
    x = x[int(SHIFT_S * rate) :]
    mp3 = encode(x, rate, "libmp3lame", 44_100, 128_000, "mp3")
    y, _ = load(io.BytesIO(mp3), 48_000)
    return encode(y, 48_000, "libopus", 48_000, 64_000, "ogg")


def build_library(originals: Path, library: Path, model: str | None, settings: Settings) -> str:
    """The real Ray Data build of ``originals`` into ``library``; its summary line."""
    from app.library.build import BuildOptions, build

    summary = build(BuildOptions(sources=[str(originals)], library=library, model=model), settings)
    return summary.line()


def placed(found: list[Match], me: str) -> dict:
    """Where the original ``me`` (a track id) is in an answer of the whole library."""
    ids = [t.id for t in found]
    return {
        "rank": ids.index(me) + 1 if me in ids else None,
        "distance_to_original": next((t.distance for t in found if t.id == me), None),
        "nearest": found[0].path,
        "nearest_distance": found[0].distance,
    }


async def ranks(folder: Path, queries: dict[Path, bytes], settings: Settings) -> dict:
    """Each original's place among the library's answers to its degraded copy (rank 1 = first):
    as the service answers (re-ranked by chunk matching), and by the clip embedding alone."""
    from app.registry import ModelRegistry
    from app.tagger import Tagger

    options = QueryOptions.of(settings)
    library = Library(folder, options)
    clip_only = Library(folder, replace(options, rerank=0))
    registry = ModelRegistry(settings)
    m = library.manifest
    model = registry.get(m.model)
    tagger = Tagger(settings, registry)
    tagger.start()
    size = library.count("status = 'ok'")
    out = {}
    try:
        for path, data in queries.items():
            result = await tagger.tag(data, model)
            me = track_id(str(path.resolve()))
            query = (result.embedding, size, m.model, m.model_version)
            out[path.name] = {
                **placed(library.nearest(*query, chunks=result.chunk_embeddings), me),
                "clip_only": placed(clip_only.nearest(*query), me),
            }
    finally:
        tagger.close()
    return out


def run(args: argparse.Namespace) -> dict:
    settings = Settings()
    originals = args.work / "originals"
    library_dir = args.work / "library"
    if args.rebuild and args.work.exists():
        shutil.rmtree(args.work)
    originals.mkdir(parents=True, exist_ok=True)
    tracks = [shutil.copy2(p, originals / p.name) for p in real_tracks()]
    tracks = [Path(t) for t in tracks] + synthetic_tracks(originals, args.synthetic)
    t0 = time.perf_counter()
    line = build_library(originals, library_dir, args.model, settings)
    build_s = time.perf_counter() - t0
    library = Library(library_dir)
    queries = {p: degrade(p) for p in tracks}
    per_track = asyncio.run(ranks(library_dir, queries, settings))
    real = {p.name for p in real_tracks()}

    def found_first(placings: dict[str, dict], names: set[str] | None = None) -> float:
        firsts = [v["rank"] == 1 for k, v in placings.items() if names is None or k in names]
        return round(float(np.mean(firsts)), 4)

    clip_only = {k: v["clip_only"] for k, v in per_track.items()}
    return {
        "model": library.manifest.model,
        "model_version": library.manifest.model_version,
        "library_tracks": library.count("status = 'ok'"),
        "real_tracks": len(real),
        "synthetic_tracks": args.synthetic,
        "degradation": "first 3 s cut, MP3 128 kb/s (LAME), then Opus 64 kb/s (libopus, 48 kHz)",
        "chunk_embeddings": library.manifest.chunk_embeddings,
        "rerank": settings.library_rerank,
        "found_first": found_first(per_track),  # the service's answer (re-ranked by chunks)
        "found_first_real": found_first(per_track, real),
        "clip_only": {
            "found_first": found_first(clip_only),
            "found_first_real": found_first(clip_only, real),
        },
        "goal": 0.95,
        "per_track": per_track,
        "build": line,
        "build_s": round(build_s, 1),
        "loadavg": os.getloadavg(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.retrieval", description=__doc__)
    parser.add_argument("--synthetic", type=int, default=30, help="synthetic clips (0: none)")
    parser.add_argument("--model", help="default: the service's default model")
    parser.add_argument("--work", type=Path, default=Path("/tmp/retrieval-bench"))
    parser.add_argument("--rebuild", action="store_true", help="start from an empty work folder")
    parser.add_argument("--out", type=Path, help="folder for retrieval.json")
    args = parser.parse_args(argv)
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "retrieval.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
