"""The Ray Data actor of a library build: a batch of file entries -> a batch of table rows.

Each actor holds the service's own tagging path, as ``python -m app tag`` runs it in process:
:class:`app.registry.ModelRegistry` (one onnxruntime session) and :class:`app.tagger.Tagger`
(decode -> chunk -> run -> aggregate, with its batcher). onnxruntime sizes its thread pools from
the machine, not from Ray's CPU reservation, so the actor's settings pin them to the actor's
CPUs: one run at a time (``inference_threads``) with ``intra_op_threads`` = the actor's CPUs,
and as many decodes at once. The actor reads each file itself (a local path, or a URI through
its pyarrow file system) on whichever node it runs, so file bytes never travel through Ray.

A file that cannot be read or tagged becomes an error row; nothing a file does stops the batch.
"""

from __future__ import annotations

import asyncio
import logging

import pyarrow as pa

from app.config import Settings
from app.errors import ServiceError
from app.library.rows import RowModel, error_row, ok_row, to_table
from app.library.schema import track_schema
from app.library.sources import read_bytes
from app.registry import ModelRegistry
from app.tagger import Tagger
from tagging.decisions import rule_for

log = logging.getLogger("app")


def actor_settings(settings: Settings, cpus: int) -> Settings:
    """``settings`` with onnxruntime and decoding pinned to ``cpus`` cores (not the node's),
    and a library's file limits (``TAGGER_LIBRARY_MAX_FILE_MB``, ``_MAX_DURATION_S``) in place
    of an upload's."""
    cpus = max(1, cpus)
    return settings.model_copy(
        update={
            "inference_threads": 1,
            "intra_op_threads": cpus,
            "decode_concurrency": cpus,
            "max_upload_mb": settings.library_max_file_mb,
            "max_duration_s": settings.library_max_duration_s,
        }
    )


class TaggerActor:
    """Ray Data ``map_batches`` callable class: ``(B,)`` entries -> ``(B,)`` rows (pyarrow)."""

    def __init__(
        self, settings: Settings, model: str, cpus: int, chunk_rows: int | None = None
    ) -> None:
        """``chunk_rows``: most chunk embeddings kept per track (the library manifest's; None:
        ``TAGGER_LIBRARY_CHUNK_EMBEDDINGS``, a new library's)."""
        self.settings = actor_settings(settings, cpus)
        self.registry = ModelRegistry(self.settings)
        self.tagger = Tagger(self.settings, self.registry)
        self.model = self.registry.get(model)
        card = self.model.card
        if chunk_rows is None:
            chunk_rows = settings.library_chunk_embeddings
        self.row_model = RowModel(model, card.version, list(card.tags), rule_for(card), chunk_rows)
        self.schema = track_schema(len(card.tags), self.model.embedding_size or 1)
        self.in_flight = max(1, cpus) + 1  # one more than the cores: a read/decode overlaps a run
        self.loop = asyncio.new_event_loop()  # the batcher's futures belong to one loop
        self.loop.run_until_complete(self._start())

    async def _start(self) -> None:
        self.tagger.start()

    def __call__(self, batch: pa.Table) -> pa.Table:
        entries = batch.to_pylist()
        rows = self.loop.run_until_complete(self._tag_all(entries))
        return to_table(rows, self.schema)

    async def _tag_all(self, entries: list[dict]) -> list[dict]:
        slots = asyncio.Semaphore(self.in_flight)

        async def one(entry: dict) -> dict:
            async with slots:
                return await self.tag_entry(entry)

        return list(await asyncio.gather(*(one(e) for e in entries)))

    async def tag_entry(self, entry: dict) -> dict:
        """One file -> its row: ok, or an error row saying why."""
        limit = self.settings.max_upload_bytes
        if entry["size"] > limit:
            why = (
                f"file is {entry['size'] / 2**20:.1f} MiB, more than the limit of "
                f"{limit / 2**20:.1f} MiB (TAGGER_LIBRARY_MAX_FILE_MB)"
            )
            return error_row(entry, why, self.row_model, None)
        data = None
        try:
            data = await asyncio.to_thread(read_bytes, entry["path"])
            result = await self.tagger.tag(data, self.model)
        except ServiceError as exc:
            return error_row(entry, exc.detail, self.row_model, data)
        except OSError as exc:
            return error_row(entry, f"could not read the file: {exc}", self.row_model, data)
        except Exception as exc:  # a bug must not lose the other files of the batch
            log.debug("tagging %s failed", entry["path"], exc_info=True)
            return error_row(entry, f"{type(exc).__name__}: {exc}", self.row_model, data)
        return ok_row(entry, data, result, self.row_model)

    def __del__(self) -> None:
        tagger = getattr(self, "tagger", None)
        if tagger is not None:
            tagger.close()
