"""``python -m app library build``: tag a library on Ray Data and store its rows in LanceDB.

The pipeline (Ray Data, streaming)::

    from_items(entries)            file entries not yet in the library, one block per batch
      -> map_batches(TaggerActor)  an actor pool: read + decode + tag each file -> table rows
      -> iter_batches()            the driver: one Lance commit per batch (LibraryWriter.add)

Without an address a local Ray is started, sized to this machine's usable cores; with
``--ray-address`` (or ``RAY_ADDRESS``) the job runs on that cluster (the files must be reachable
from its nodes: a shared mount or an object store). GPU actors (one GPU each) are used when Ray
sees GPUs and the service's providers allow CUDA.

Interrupted (Ctrl-C, a crash, a killed node), a build loses at most the batches not yet
committed; a rerun skips the files already in the table (same path, size and mtime) and writes
no duplicates (rows are merged on ``id``).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from app.config import Settings
from app.library.schema import LibraryManifest
from app.library.sources import FileEntry, resolve
from app.library.store import LibraryWriter, existing_manifest
from app.registry import ModelRegistry
from tagging.card import ModelCard
from tagging.decisions import rule_for

log = logging.getLogger("app")

BATCHES_PER_ACTOR = 48
"""A small build's batches are cut so that each actor gets at least this many: the slowest
actor's last batch is the build's tail (200 files on 2 actors: batches of 3 instead of 7 ended
the build 0.5-1.1 s sooner, 51 against 52 s)."""


@dataclass(frozen=True)
class BuildOptions:
    sources: list[str]
    library: Path
    model: str | None = None
    ray_address: str | None = None
    actors: int = 0  # 0: one per cpus_per_actor CPUs of the cluster (one per GPU on GPUs)
    cpus_per_actor: int = 1
    batch_size: int = 16  # files per actor call and per Lance commit
    retry_errors: bool = False


@dataclass
class BuildSummary:
    files: int = 0  # found in the sources
    skipped: int = 0  # already in the library
    ok: int = 0
    failed: int = 0
    wall_s: float = 0.0
    actors: int = 0
    gpus: bool = False
    interrupted: bool = False
    missing: list[str] = field(default_factory=list)

    @property
    def tagged(self) -> int:
        return self.ok + self.failed

    @property
    def files_per_s(self) -> float:
        return self.tagged / self.wall_s if self.wall_s > 0 else 0.0

    def line(self) -> str:
        state = "interrupted (rerun to resume)" if self.interrupted else "done"
        return (
            f"{state}: {self.files} file(s), {self.skipped} already in the library, "
            f"{self.tagged} tagged: {self.ok} ok, {self.failed} failed; "
            f"{self.files_per_s:.2f} clips/s over {self.wall_s:.1f} s "
            f"({self.actors} {'GPU' if self.gpus else 'CPU'} actor(s))"
        )


class NoEmbeddingError(ValueError):
    """The model has no ``embedding`` output: its rows could not be searched by similarity."""


# -- the model and the manifest ------------------------------------------------------------------
def choose_model(settings: Settings, library: Path, name: str | None) -> tuple[str, ModelCard]:
    """The model named, else the library's own, else the service's default: its name and card
    (the driver loads no session: the actors do)."""
    registry = ModelRegistry(settings)
    found = existing_manifest(library)
    name = name or (found.model if found else registry.choose_default())
    card = registry.card(name)  # UnknownModelError, ModelLoadError
    if card.embedding is None:
        raise NoEmbeddingError(
            f"model {name!r} has no embedding output (its card names none): a library needs "
            "embeddings; add one (python -m training add-embedding) or choose another --model"
        )
    return name, card


def manifest_for(
    name: str, card: ModelCard, sources: list[str], chunk_rows: int
) -> LibraryManifest:
    """The manifest of a new library of ``name``'s rows, ``chunk_rows`` chunk embeddings each."""
    rule = rule_for(card)
    assert card.embedding is not None  # choose_model refused a model without one
    return LibraryManifest(
        model=name,
        model_version=card.version,
        tags=list(card.tags),
        embedding_size=card.embedding.size,
        embedding_layer=card.embedding.layer,
        decision_policy=rule.policy if rule.thresholds is not None else None,
        chunk_embeddings=chunk_rows,
        sources=list(sources),
    )


# -- Ray -----------------------------------------------------------------------------------------
def temp_dir() -> str:
    """Ray's session folder: under the system's temporary folder, never in the repository."""
    return os.path.join(tempfile.gettempdir(), "ray")


def start_ray(address: str | None, cores: int) -> bool:
    """Connect to ``address`` (or ``RAY_ADDRESS``), else start a local Ray of ``cores`` CPUs;
    True if this call started or connected (and so should shut it down)."""
    import ray

    if ray.is_initialized():  # an embedding program (a test) already holds a Ray
        return False
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
    address = address or os.environ.get("RAY_ADDRESS") or None
    with warnings.catch_warnings():
        # Ray forks and at once execs its processes: lancedb's fork warning does not apply.
        warnings.filterwarnings("ignore", "lancedb fork support", RuntimeWarning)
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=cores, _temp_dir=temp_dir(), **quiet)
    return True


def quiet_ray_data() -> None:
    """No Ray Data progress bars or execution banners (the build prints its own)."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


def actor_plan(options: BuildOptions, settings: Settings) -> tuple[int, int]:
    """``(actors, gpus per actor)``: one actor per GPU when Ray sees GPUs and CUDA is allowed,
    else one per ``cpus_per_actor`` CPUs of the cluster (or ``--actors``)."""
    import ray

    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus and settings.providers != "cpu":
        return options.actors or gpus, 1
    cpus = int(resources.get("CPU", 1))
    return options.actors or max(1, cpus // options.cpus_per_actor), 0


def batch_size(files: int, actors: int, largest: int) -> int:
    """Files per batch: ``largest`` (``--batch-size``), smaller for a small build so that each
    actor gets at least :data:`BATCHES_PER_ACTOR` batches (the last batches are the slowest
    actor's tail: small ones keep the others from idling)."""
    return max(1, min(largest, math.ceil(files / (actors * BATCHES_PER_ACTOR))))


def dataset(
    entries: list[FileEntry],
    options: BuildOptions,
    settings: Settings,
    model: str,
    chunk_rows: int,
):
    """The lazy Ray Data pipeline: entries -> TaggerActor pool -> rows (``chunk_rows`` chunk
    embeddings each at most: the library manifest's)."""
    import ray.data

    from app.library.actor import TaggerActor

    actors, gpus = actor_plan(options, settings)
    batch = batch_size(len(entries), actors, options.batch_size)
    blocks = math.ceil(len(entries) / batch)
    actors = min(actors, blocks)  # no actor without a batch to tag
    ds = ray.data.from_items([e.as_dict() for e in entries], override_num_blocks=blocks)
    return (
        ds.map_batches(
            TaggerActor,
            fn_constructor_kwargs={
                "settings": settings,
                "model": model,
                "cpus": options.cpus_per_actor,
                "chunk_rows": chunk_rows,
            },
            batch_size=batch,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=options.cpus_per_actor,
            num_gpus=gpus,
        ),
        actors,
        bool(gpus),
    )


# -- the build -----------------------------------------------------------------------------------
def build(options: BuildOptions, settings: Settings) -> BuildSummary:
    """Tag every file of ``options.sources`` not yet in the library; rows committed per batch.

    Raises :class:`app.errors.ModelMismatchError`, :class:`NoEmbeddingError` or
    :class:`app.errors.ServiceError` (unknown model) before any work is done."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    summary = BuildSummary()
    entries, summary.missing = resolve(options.sources)
    summary.files = len(entries)
    name, card = choose_model(settings, options.library, options.model)
    wanted = manifest_for(name, card, options.sources, settings.library_chunk_embeddings)
    writer = LibraryWriter.open(options.library, wanted)  # an existing library keeps its own
    done = writer.done_keys(retry_errors=options.retry_errors)
    todo = [e for e in entries if e.key() not in done]
    summary.skipped = len(entries) - len(todo)
    if not todo:
        writer.finish()
        summary.wall_s = time.perf_counter() - t0
        return summary
    started = start_ray(options.ray_address, settings.cores)
    try:
        quiet_ray_data()
        chunk_rows = writer.manifest.chunk_embeddings
        ds, summary.actors, summary.gpus = dataset(todo, options, settings, name, chunk_rows)
        bar = tqdm(total=len(todo), unit="file", desc="tagging", file=sys.stderr)
        with bar:
            for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                writer.add(batch)  # one Lance commit
                for row in batch.select(["path", "status", "error"]).to_pylist():
                    if row["status"] == "ok":
                        summary.ok += 1
                    else:
                        summary.failed += 1
                        bar.write(f"error: {row['path']}: {row['error']}", file=sys.stderr)
                bar.update(batch.num_rows)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        writer.finish()
        summary.wall_s = time.perf_counter() - t0
        if started:
            import ray

            ray.shutdown()
    return summary
