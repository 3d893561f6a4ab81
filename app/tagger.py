"""The tagging pipeline: admit -> decode -> chunk -> run -> aggregate.

* admit: :class:`app.admission.Admission`, once, before the upload's body is read: an upload
  slot and the chunks of a :data:`TYPICAL_CLIP_S` clip (by the card's clip rule) reserved in the model's bounded queue (:class:`app.errors.OverloadedError` with
  ``retry_after_s`` when full). The body is then received (:data:`Body`), spooled, never
  copied whole into memory here.
* decode: FFmpeg (PyAV) or, for the MP3s it recognises, libsndfile, via
  :func:`tagging.audio.load` (mix to mono, soxr resample to the model's rate, 16 kHz);
  the header is checked first (sample rate, duration limit), the decoded samples are counted
  against the limit (a header that understates the length stops there), under a wall-clock cap.
* chunk: every card's ``clip_rule`` (:class:`tagging.clips.ClipRule`, the rule training's
  evaluation uses too) gives the clip's chunks: the ported models get the chunks their original
  tool scores (musicnn's non-overlapping patches of the centre-padded clip, or Won et al.'s 16
  chunks; clips too short for one chunk are tiled), the project's models 16 evenly spaced chunks
  (Won et al. 2020 evaluation), clips shorter than one chunk (but at least ``min_duration_s``)
  zero-padded. Segments use :func:`tagging.audio.hop_starts` every ``chunk_hop_s``.
  The header checks (probe: format, sample rate, duration) run before a decode slot is taken;
  decoding runs in worker threads, at most ``decode_concurrency`` at once (an anyio capacity
  limiter), so many concurrent uploads do not all hold decoded audio at the same time.
* run: :meth:`Tagger.run` hands the ``(N, chunk_samples)`` chunks, lazily (the clip and the
  chunk starts, :class:`tagging.chunks.Chunks`: Won et al.'s 16 overlapping chunks would be 16
  times the clip), and the request's ticket to the model's
  :class:`app.batching.Batcher` (:meth:`~app.batching.Batcher.run`), whose inference threads
  run chunks of concurrent requests together (at most ``max_batch`` per onnxruntime run, several
  runs at once on CPU) and give each request its own rows back.
* aggregate: the clip probability is the mean of its chunks' probabilities.

Errors are :class:`app.errors.ServiceError` subclasses with no HTTP in them; which tags a
caller sees, and how many, is :mod:`app.shaping`'s business.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
import numpy as np

from app.admission import Admission
from app.batching import Batcher, Ticket
from app.config import Settings
from app.errors import (
    AudioLimitError,
    AudioTooShortError,
    EmptyUploadError,
    OverloadedError,
    UnsupportedAudioError,
)
from app.memory import trim
from app.registry import LoadedModel, ModelRegistry
from tagging.audio import (
    AudioDecodeError,
    AudioInfo,
    AudioTooLongError,
    DecodeLimits,
    DecodeTimeoutError,
    Source,
    hop_starts,
    load,
    probe,
)
from tagging.chunks import Chunks

if TYPE_CHECKING:  # the metrics (and their HTTP middleware) are the service's, not the CLI's
    from app.observability import ServiceMetrics

log = logging.getLogger("app")

TYPICAL_CLIP_S = 30.0
"""Clip length whose chunk count a request reserves before decoding (its length is unknown)."""

Body = Source | Callable[[], AbstractAsyncContextManager[Source]]
"""What :meth:`Tagger.tag` tags: audio in hand (bytes, a seekable file), or an upload still to
be received, opened only once the request is admitted (an async context manager factory that
yields the spooled body and closes it)."""

_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def _clean(message: str) -> str:
    """A decoder message without Python object reprs (``<_io.BytesIO object at 0x...>``)."""
    return _OBJECT_REPR.sub("upload", message)


def _rewound(source: Source) -> Source:
    if hasattr(source, "seek"):
        source.seek(0)  # type: ignore[union-attr]
    return source


@asynccontextmanager
async def _received(body: Body) -> AsyncIterator[Source]:
    """The audio of ``body``: received now when it is an upload still to come."""
    if not callable(body):
        yield body
        return
    async with body() as source:
        yield source


@dataclass(frozen=True)
class DecodedAudio:
    """Mono float32 audio at the model's rate, with what the header said about the source."""

    wave: np.ndarray  # (n_samples,) float32
    sample_rate: int
    source_format: str
    source_sample_rate: int
    source_channels: int

    @property
    def duration_s(self) -> float:
        return len(self.wave) / self.sample_rate


@dataclass(frozen=True)
class ChunkPlan:
    """Chunk start offsets (samples) for the clip average and, optionally, for segments."""

    clip_starts: np.ndarray  # (n_clip,) int64
    segment_starts: np.ndarray | None  # (n_segments,) int64
    chunk_samples: int

    def all_starts(self) -> np.ndarray:
        if self.segment_starts is None:
            return self.clip_starts
        return np.concatenate([self.clip_starts, self.segment_starts])


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    probabilities: np.ndarray  # (K,)


@dataclass(frozen=True)
class TagResult:
    """What :meth:`Tagger.tag` returns; callers shape it with :mod:`app.shaping`."""

    model: LoadedModel
    probabilities: np.ndarray  # (K,) clip-level, the model's tag order
    # (D,) float32: the model's embedding (penultimate features), the mean over the clip's
    # chunks as for the probabilities (not over segments); None if the model has none.
    embedding: np.ndarray | None
    # (n_clip, D) float32: the clip's chunk embeddings in time order, the rows `embedding`
    # averages (segments left out; app.library.chunks matches them); None as `embedding`.
    chunk_embeddings: np.ndarray | None
    segments: list[Segment] | None
    duration_s: float
    n_chunks: int
    heard_s: float  # seconds of the recording the clip chunks hear (their union)
    decode_ms: float
    inference_ms: float
    total_ms: float


class Tagger:
    """Decode -> chunk -> run -> aggregate, for one uploaded file."""

    def __init__(
        self, settings: Settings, registry: ModelRegistry, metrics: ServiceMetrics | None = None
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.metrics = metrics
        self.admission = Admission(settings.max_uploads, settings.overload_log_interval_s)
        self._batchers: dict[str, Batcher] = {}
        self._batchers_lock = threading.Lock()
        self._decode_limiter: anyio.CapacityLimiter | None = None
        self._in_flight = 0  # tag() calls running (event loop only)
        self._started = 0  # tag() calls ever started: tells an idle second from a busy one
        self._trim_scheduled = False

    # -- engine ------------------------------------------------------------------------------
    def batcher(self, model: LoadedModel) -> Batcher:
        """The model's batcher (one per loaded model, created with its thread on first use)."""
        batcher = self._batchers.get(model.name)
        if batcher is not None:
            return batcher
        with self._batchers_lock:
            if model.name not in self._batchers:
                s = self.settings
                self._batchers[model.name] = Batcher(
                    name=model.name,
                    provider=model.provider,
                    run=lambda x, m=model: m.run(x),  # looked up per run (patchable)
                    n_outputs=model.n_outputs,  # (K + D): probabilities, then embedding
                    max_batch=model.max_batch,
                    max_queue=s.max_queue,
                    max_wait_s=s.batch_wait_ms / 1000,
                    bucket=model.bucket,
                    observer=self.metrics,
                    workers=model.workers,
                    sec_per_row=model.sec_per_row,  # measured at warm-up: Retry-After from 0 s
                    decoders=s.decoders,
                )
            return self._batchers[model.name]

    def batchers(self) -> dict[str, Batcher]:
        return dict(self._batchers)

    def start(self) -> None:
        """Per event loop: a fresh decode limiter (anyio primitives belong to one loop)."""
        self._decode_limiter = anyio.CapacityLimiter(self.settings.decoders)

    def close(self) -> None:
        """Stop every batcher thread after its queued work."""
        with self._batchers_lock:
            batchers, self._batchers = list(self._batchers.values()), {}
        for batcher in batchers:
            batcher.close()

    def _limiter(self) -> anyio.CapacityLimiter:
        if self._decode_limiter is None:
            self.start()
        assert self._decode_limiter is not None
        return self._decode_limiter

    # -- decode ------------------------------------------------------------------------------
    def check_header(self, data: Source) -> AudioInfo:
        """The cheap checks, from the header only: decodable format, sample rate, duration
        limit (:class:`UnsupportedAudioError`, :class:`AudioLimitError`); run before a decode
        slot is taken."""
        s = self.settings
        limit = s.max_duration_s
        if isinstance(data, bytes | bytearray) and not data:
            raise EmptyUploadError("the uploaded file is empty (0 bytes)")
        try:
            info = probe(_rewound(data))
        except AudioDecodeError as exc:
            raise UnsupportedAudioError(f"could not decode the upload: {_clean(str(exc))}") from exc
        if not 0 < info.samplerate <= s.max_sample_rate:
            raise UnsupportedAudioError(
                f"could not decode the upload: unsupported sample rate {info.samplerate} Hz "
                f"(accepted: 1 to {s.max_sample_rate} Hz)"
            )
        if info.duration > limit:
            raise AudioLimitError(
                f"audio lasts {info.duration:.1f} s, more than the limit of {limit:.1f} s",
                duration_s=round(info.duration, 3),
                max_duration_s=limit,
            )
        return info

    def decode(self, data: Source, sample_rate: int, info: AudioInfo | None = None) -> DecodedAudio:
        """An upload (bytes or a seekable file) -> mono audio at ``sample_rate`` (CPU-bound:
        call from a thread); ``info`` = :meth:`check_header`'s result when already done.

        Decoded samples are counted (:class:`AudioLimitError` when a header lied about the
        length), under a wall-clock cap (the same); :class:`UnsupportedAudioError` messages say
        what was found, once, with no internals."""
        s = self.settings
        limit = s.max_duration_s
        info = info if info is not None else self.check_header(data)
        limits = DecodeLimits(limit, s.max_sample_rate, s.decode_timeout_s)
        try:
            wave, _ = load(_rewound(data), sample_rate, limits)
        except AudioTooLongError as exc:
            if exc.from_header:
                raise AudioLimitError(
                    str(exc), duration_s=round(exc.duration, 3), max_duration_s=limit
                ) from exc
            raise AudioLimitError(
                f"audio lasts more than the limit of {limit:.1f} s (stopped decoding at "
                f"{exc.duration:.1f} s)",
                max_duration_s=limit,
            ) from exc
        except DecodeTimeoutError as exc:
            raise AudioLimitError(
                f"the upload took longer than {exc.limit:g} s to decode (decode_timeout_s)",
                max_decode_s=exc.limit,
            ) from exc
        except AudioDecodeError as exc:
            raise UnsupportedAudioError(f"could not decode the upload: {_clean(str(exc))}") from exc
        except Exception as exc:  # anything else a decoder raises is still the upload's fault
            log.warning("decoding an upload failed unexpectedly", exc_info=True)
            raise UnsupportedAudioError(
                f"could not decode the upload ({type(exc).__name__})"
            ) from exc
        audio = DecodedAudio(wave, sample_rate, info.format, info.samplerate, info.channels)
        if len(wave) == 0:
            raise EmptyUploadError("the upload contains no audio samples")
        if audio.duration_s < self.settings.min_duration_s:
            raise AudioTooShortError(
                f"audio lasts {audio.duration_s:.3f} s, less than the minimum of "
                f"{self.settings.min_duration_s:g} s needed to tag it",
                duration_s=round(audio.duration_s, 3),
                min_duration_s=self.settings.min_duration_s,
            )
        return audio

    # -- chunk -------------------------------------------------------------------------------
    @property
    def max_clip_chunks(self) -> int | None:
        """Cap on the chunks spread over a long recording (None: the clip rule's chunks only)."""
        return self.settings.max_clip_chunks or None

    def clip_count(self, model: LoadedModel, n_samples: int) -> int:
        """Chunks the clip prediction of ``n_samples`` takes (the card's clip rule, spread over
        a long recording)."""
        return len(model.clip_rule.cover(n_samples, self.max_clip_chunks))

    def chunk(self, n_samples: int, model: LoadedModel, segments: bool) -> ChunkPlan:
        """Start offsets: the card's clip rule for the clip (in its padded clip; spread over the
        whole of a recording longer than its span), a hop grid for segments."""
        length = model.chunk_samples
        clip = model.clip_rule.cover(n_samples, self.max_clip_chunks)
        seg = None
        if segments:
            hop = round(self.settings.chunk_hop_s * model.sample_rate) or length
            seg = hop_starts(n_samples, length, max(hop, 1))
        return ChunkPlan(clip, seg, length)

    # -- run ---------------------------------------------------------------------------------
    async def run(
        self, model: LoadedModel, chunks: Chunks | np.ndarray, ticket: Ticket
    ) -> np.ndarray:
        """``(N, L)`` chunks (lazy, or an array) -> ``(N, K + D)`` rows (:meth:`LoadedModel.run`) through the model's
        batcher, off the event loop; ``ticket`` is the request's admission (:meth:`tag`).
        Failures other than overload are counted in the metrics."""
        try:
            return await self.batcher(model).run(ticket, chunks)
        except OverloadedError:
            raise
        except Exception:
            if self.metrics is not None:
                self.metrics.request_failure.labels(model.name, "error").inc()
            raise

    # -- aggregate ---------------------------------------------------------------------------
    @staticmethod
    def aggregate(
        plan: ChunkPlan, probs: np.ndarray, n_samples: int, sample_rate: int
    ) -> tuple[np.ndarray, list[Segment] | None]:
        """Clip probability = mean over the clip's chunks; segments keep their own rows."""
        n_clip = len(plan.clip_starts)
        clip = probs[:n_clip].mean(axis=0)
        if plan.segment_starts is None:
            return clip, None
        segments = [
            Segment(
                start_s=int(s) / sample_rate,
                end_s=min(int(s) + plan.chunk_samples, n_samples) / sample_rate,
                probabilities=row,
            )
            for s, row in zip(plan.segment_starts, probs[n_clip:], strict=True)
        ]
        return clip, segments

    @staticmethod
    def clip_chunk_embeddings(plan: ChunkPlan, embeddings: np.ndarray | None) -> np.ndarray | None:
        """The clip's chunk embeddings ``(n_clip, D)`` float32, in time order (segments' rows
        left out); None when the model has no embedding."""
        if embeddings is None:
            return None
        return np.asarray(embeddings[: len(plan.clip_starts)], dtype=np.float32)

    # -- memory ------------------------------------------------------------------------------
    @contextmanager
    def _busy(self) -> Iterator[None]:
        """Counts one :meth:`tag` in flight; the last one out schedules the idle trim."""
        self._in_flight += 1
        self._started += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            self._schedule_trim()

    def _schedule_trim(self) -> None:
        """After ``idle_trim_s`` without any request, give free heap pages back to the OS
        (:func:`app.memory.trim`): RSS returns to its resting size after a burst."""
        delay = self.settings.idle_trim_s
        if self._in_flight or self._trim_scheduled or delay <= 0:
            return
        self._trim_scheduled = True
        loop = asyncio.get_running_loop()
        started = self._started

        def check() -> None:
            self._trim_scheduled = False
            if self._in_flight == 0 and self._started == started:  # a whole idle interval
                loop.run_in_executor(None, trim)
            elif self._in_flight == 0:
                self._schedule_trim()

        loop.call_later(delay, check)

    # -- the whole pipeline ------------------------------------------------------------------
    async def load(self, name: str) -> LoadedModel:
        """The named model, loaded in a worker thread on first use."""
        loaded = self.registry.loaded_model(name)
        if loaded is not None:  # the common case: no thread hop
            return loaded
        return await anyio.to_thread.run_sync(self.registry.get, name)

    def typical_chunks(self, model: LoadedModel) -> int:
        """Chunks a request reserves when admitted: those of a :data:`TYPICAL_CLIP_S` clip (its
        length is unknown before decoding)."""
        return self.clip_count(model, int(TYPICAL_CLIP_S * model.sample_rate))

    def prepare(
        self, data: Source, model: LoadedModel, segments: bool, info: AudioInfo | None = None
    ) -> tuple[Chunks, ChunkPlan, DecodedAudio]:
        """Decode + chunk (CPU-bound, run in a worker thread): ``(chunks (N, L), plan, audio)``,
        the chunks lazy (:class:`tagging.chunks.Chunks`: no chunk is copied until its run): the
        clip's first (the plan's clip chunks, in the clip as the rule padded/tiled it), then the
        segments' (cut from the decoded wave)."""
        audio = self.decode(data, model.sample_rate, info)
        plan = self.chunk(len(audio.wave), model, segments)
        chunks = model.clip_rule.cut(audio.wave, self.max_clip_chunks)  # (n_clip, L)
        if plan.segment_starts is not None:
            seg = Chunks.cut(audio.wave, plan.segment_starts, plan.chunk_samples)
            chunks = Chunks.join(chunks, seg)  # (n_clip + n_segments, L)
        return chunks, plan, audio

    async def tag(self, body: Body, model: LoadedModel, segments: bool = False) -> TagResult:
        """The whole pipeline for one upload: admit -> decode -> chunk -> run -> aggregate.

        Errors are :class:`app.errors.ServiceError` subclasses (overload at admission before any
        byte of an upload ``body`` is received). ``segments`` adds per-segment probabilities.
        """
        admitted = self.admission.admit(  # upload slot + queue reservation
            self.batcher(model), self.typical_chunks(model), upload=callable(body)
        )
        with admitted as ticket, self._busy():
            async with _received(body) as data:  # an upload's body is read only now
                t0 = time.perf_counter()
                info = await anyio.to_thread.run_sync(self.check_header, data)  # before a slot
                async with self._limiter():  # at most decode_concurrency decodes at once
                    tq = time.perf_counter()
                    chunks, plan, audio = await anyio.to_thread.run_sync(
                        self.prepare, data, model, segments, info
                    )  # decode + chunk: chunks (N, L), lazy (the clip + chunk starts)
                t1 = time.perf_counter()
            ticket.decode_s = t1 - tq  # feeds the model queue's Retry-After estimate
            n_samples, duration_s = len(audio.wave), audio.duration_s
            del audio  # the chunks hold the clip they are cut from, nothing else waits
            rows = await self.run(model, chunks, ticket)  # run: (N, K + D)
        t2 = time.perf_counter()
        probs, embeddings = model.split(rows)  # (N, K), (N, D) or None
        clip, segs = self.aggregate(plan, probs, n_samples, model.sample_rate)
        chunk_embeddings = self.clip_chunk_embeddings(plan, embeddings)  # (n_clip, D) or None
        # the clip embedding (D,): the mean over the clip's chunks, as the probabilities
        embedding = None if chunk_embeddings is None else chunk_embeddings.mean(axis=0)
        t3 = time.perf_counter()
        if self.metrics is not None:
            self.metrics.observe_tagging(
                model, t1 - tq, t2 - t1, len(chunks), duration_s, decode_queue_s=tq - t0
            )
        return TagResult(
            model=model,
            probabilities=clip,
            embedding=embedding,
            chunk_embeddings=chunk_embeddings,
            segments=segs,
            duration_s=duration_s,
            n_chunks=len(plan.clip_starts),
            heard_s=model.clip_rule.heard_samples(n_samples, plan.clip_starts) / model.sample_rate,
            decode_ms=(t1 - tq) * 1000,
            inference_ms=(t2 - t1) * 1000,
            total_ms=(t3 - t0) * 1000,
        )
