"""Dynamic batching: chunks of concurrent requests share onnxruntime runs (one batcher per model).

Each loaded model gets one :class:`Batcher` with ``workers`` inference threads (``session.run``
releases the GIL; several runs of one session may be in flight at once). On CPU the default is
one single-threaded run per core rather than one run over an intra-op pool of every core (see
:meth:`app.registry.ModelRegistry.session_options`); on CUDA one thread. Requests go through
three steps:

1. :meth:`Batcher.admit` *before decoding*: reserves ``estimate`` chunks in the bounded queue
   (``max_queue`` chunks: reserved by requests still decoding + submitted and not yet run) and
   returns the request's :class:`Ticket`. A full queue raises :class:`app.errors.QueueFullError`
   (with ``retry_after_s``) so an overloaded service answers at once instead of decoding and
   holding more uploads. A request is always admitted into an empty queue, so any single valid
   request can be served whatever its size. :meth:`Ticket.cancel` gives the reservation back.
2. :meth:`Batcher.run` after decoding, the one entry for the work itself: chunks in,
   probabilities out. The ticket's ``(N, L)`` chunks join the FIFO queue at once and the call
   returns an awaitable of their ``(N, K)`` probabilities in the request's own row order; the
   decode time the ticket recorded feeds the ``Retry-After`` estimate. The chunks wait lazily
   (:class:`tagging.chunks.Chunks`: the clip and the chunk starts, about the clip's size, where
   Won et al.'s 16 overlapping chunks would be 16 times it); each run cuts only its own rows.
3. An idle inference thread takes rows from the head of the queue: its share
   ``ceil(queued / idle threads)``, at most ``max_batch`` (so a lone request of 16 chunks runs
   as 8 + 8 on two idle threads at once, while under load every run is a full batch). A
   request larger than a run is split across runs; rows of several requests share a run. Each
   run copies its rows back into their request's output array by their own offsets, so
   results never mix between requests, whichever thread ran them.

Waiting policy: a thread runs as soon as it has work *unless* more chunks are known to be on
their way, i.e. other admitted requests are still decoding; only then does it wait, at most
``max_wait_s`` and only until a full batch is queued or no admitted request is still decoding.
A lone request therefore never waits for the timer (``BatchRecord.waited_s == 0``). While runs
are in flight, new submissions simply queue up and form the next batches.

Batch buckets (CUDA): with ``bucket=True`` a batch of ``n`` rows is zero-padded to the next
power of two (capped at ``max_batch``), so the session only ever sees ``log2(max_batch) + 1``
input shapes, all run at warm-up; the padded rows' outputs are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from app.errors import QueueFullError, ShuttingDownError
from tagging.chunks import Chunks

log = logging.getLogger("app")


def bucket_size(n: int, max_batch: int) -> int:
    """The next power of two >= ``n``, capped at ``max_batch`` (``n <= max_batch``)."""
    return min(1 << max(n - 1, 0).bit_length(), max_batch)


def share_rows(queued: int, idle: int, max_batch: int) -> int:
    """Rows one of ``idle`` idle inference threads takes from ``queued``: an even share
    (``ceil(queued / idle)``), at least 1, at most ``max_batch``."""
    return min(max_batch, max(1, -(-queued // max(idle, 1))))


def bucket_sizes(max_batch: int) -> list[int]:
    """Every batch shape a bucketing batcher can run: 1, 2, 4, ... and ``max_batch``."""
    return sorted({bucket_size(n, max_batch) for n in range(1, max_batch + 1)})


@dataclass(frozen=True)
class BatchRecord:
    """What one onnxruntime run did (kept for tests and debugging; the last 256 runs)."""

    rows: int  # chunks of real requests in the run
    padded_to: int  # the batch shape sent to the session (== rows unless bucketing)
    requests: int  # distinct requests with rows in the run
    waited_s: float  # time spent waiting for more requests before the run (0: ran at once)
    run_s: float  # session.run wall time


@dataclass(eq=False)
class _Request:
    chunks: Chunks  # (N, L), lazy: each run cuts its rows (rows(start, stop))
    out: np.ndarray  # (N, K) float32, filled row by row
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    submitted: float  # perf_counter at submit
    scheduled: int = 0  # rows handed to a run so far
    done: int = 0  # rows whose probabilities are in ``out``
    failed: bool = False
    cancelled: bool = False

    @property
    def n(self) -> int:
        return len(self.chunks)


@dataclass
class BatcherStats:
    """Counters of one batcher (the Prometheus metrics carry the same facts)."""

    runs: int = 0
    rows: int = 0
    rejected: int = 0
    history: deque[BatchRecord] = field(default_factory=lambda: deque(maxlen=256))


class BatchObserver:
    """Hooks the batcher calls (from its thread); :class:`app.observability.ServiceMetrics`
    provides a real one. The default does nothing."""

    def queue_depth(self, model: str, chunks: int) -> None: ...

    def queued(self, model: str, seconds: float) -> None: ...

    def batch(self, model: str, provider: str, rows: int, run_s: float) -> None: ...

    def rejected(self, model: str) -> None: ...


class Ticket:
    """An admitted request: a queue reservation until :meth:`Batcher.run` (or :meth:`cancel`).

    ``decode_s`` is the request's decode time (seconds, without waiting for a decoder), set by
    whoever decoded it; :meth:`Batcher.run` feeds it into the ``Retry-After`` estimate.
    """

    def __init__(self, batcher: Batcher, estimate: int) -> None:
        self._batcher = batcher
        self.estimate = estimate
        self.decode_s: float | None = None
        self._open = True

    def _use(self, batcher: Batcher) -> None:
        if batcher is not self._batcher:
            raise ValueError(f"this ticket was admitted by model {self._batcher.name!r}")
        if not self._open:
            raise RuntimeError("this ticket was already run or cancelled")
        self._open = False

    def cancel(self) -> None:
        """Give the reservation back (decoding failed); a no-op once run."""
        if self._open:
            self._open = False
            self._batcher._release(self.estimate)


class Batcher:
    """One model's inference queue and thread (see the module docstring)."""

    def __init__(
        self,
        name: str,
        provider: str,
        run: Callable[[np.ndarray], np.ndarray],
        n_outputs: int,
        max_batch: int,
        max_queue: int,
        max_wait_s: float,
        bucket: bool = False,
        observer: BatchObserver | None = None,
        workers: int = 1,
        sec_per_row: float = 0.0,
        decoders: int = 1,
    ) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait_s < 0 or workers < 1:
            raise ValueError("max_batch, max_queue and workers must be >= 1 and max_wait_s >= 0")
        self.name = name
        self.provider = provider
        self._run = run
        self.n_outputs = n_outputs
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.max_wait_s = max_wait_s
        self.bucket = bucket
        self.observer = observer or BatchObserver()
        self.stats = BatcherStats()
        self._cond = threading.Condition()
        self._pending: deque[_Request] = deque()
        self._queued = 0  # rows submitted and not yet handed to a run
        self._reserved = 0  # chunks reserved by admitted requests still decoding
        self._decoding = 0  # admitted requests still decoding (= more work on its way)
        # Retry-After: EWMA of run time per row (seeded by the model's warm-up runs) and of
        # decode time per request, both already divided by the threads doing that work.
        self._sec_per_row = sec_per_row / workers
        self._decode_share = 0.0
        self._decoders = max(decoders, 1)  # threads sharing the decode work
        self._busy = 0  # inference threads in a run
        self._closed = False
        self.workers = workers
        self._threads = [
            threading.Thread(target=self._loop, name=f"batcher-{name}-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    # -- admission ---------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Chunks counted against ``max_queue``: reserved (decoding) + queued (not yet run)."""
        return self._queued + self._reserved

    def retry_after_s(self) -> int:
        """Whole seconds after which the queue has probably drained (at least 1): queued and
        reserved chunks x measured run time per chunk, plus the admitted requests still to
        decode x measured decode time per request (0.05 s per chunk before any measurement)."""
        per_row = self._sec_per_row or 0.05
        return max(1, math.ceil(self.depth * per_row + self._decoding * self._decode_share))

    def _observe_decode(self, seconds: float) -> None:
        """Feed the decode time of one request into the Retry-After estimate."""
        share = seconds / self._decoders
        with self._cond:
            self._decode_share = (
                share if not self._decode_share else 0.8 * self._decode_share + 0.2 * share
            )

    def _full(self, extra: int) -> bool:
        # An empty queue always takes a request, so one large request is never refused forever.
        return self.depth > 0 and self.depth + extra > self.max_queue

    def _reject(self) -> QueueFullError:
        self.stats.rejected += 1
        self.observer.rejected(self.name)
        return QueueFullError(
            f"model {self.name!r} is busy: its inference queue holds {self.depth} chunks "
            f"(limit {self.max_queue})",
            self.retry_after_s(),
            queue_depth=self.depth,
            max_queue=self.max_queue,
        )

    def admit(self, estimate: int) -> Ticket:
        """Reserve ``estimate`` chunks for a request about to decode (:class:`QueueFullError`
        when the queue is full)."""
        estimate = max(int(estimate), 1)
        with self._cond:
            if self._closed:
                raise ShuttingDownError("the service is shutting down")
            if self._full(estimate):
                raise self._reject()
            self._reserved += estimate
            self._decoding += 1
            self.observer.queue_depth(self.name, self.depth)
        return Ticket(self, estimate)

    def _release(self, estimate: int) -> None:
        with self._cond:
            self._reserved -= estimate
            self._decoding -= 1
            self.observer.queue_depth(self.name, self.depth)
            self._cond.notify_all()  # a waiting batch need not wait for this one any more

    def run(self, ticket: Ticket, chunks: Chunks | np.ndarray) -> asyncio.Future[np.ndarray]:
        """The admitted request's ``(N, L)`` chunks (lazy, or an array) -> an awaitable of their
        ``(N, K)`` probabilities (queued at once, before the caller awaits; on the event loop)."""
        ticket._use(self)
        if ticket.decode_s is not None:
            self._observe_decode(ticket.decode_s)
        return self._submit(chunks, ticket.estimate)

    def _submit(self, chunks: Chunks | np.ndarray, estimate: int) -> asyncio.Future[np.ndarray]:
        loop = asyncio.get_running_loop()
        given = getattr(chunks, "shape", None)
        try:
            chunks = Chunks.of(chunks)  # an (N, L) array is wrapped without a copy
            if len(chunks) == 0:
                raise ValueError("no rows")
        except ValueError:
            self._release(estimate)
            raise ValueError(f"chunks must be (N >= 1, L), got {given}") from None
        request = _Request(
            chunks=chunks,
            out=np.empty((len(chunks), self.n_outputs), dtype=np.float32),
            loop=loop,
            future=loop.create_future(),
            submitted=time.perf_counter(),
        )
        with self._cond:
            self._reserved -= estimate
            self._decoding -= 1
            if self._closed:
                self._cond.notify_all()
                raise ShuttingDownError("the service is shutting down")
            # More chunks than reserved (segments, long audio): re-check only the excess.
            if request.n > estimate and self._full(request.n):
                self._cond.notify_all()
                raise self._reject()
            self._pending.append(request)
            self._queued += request.n
            self.observer.queue_depth(self.name, self.depth)
            self._cond.notify_all()
        request.future.add_done_callback(lambda f: self._on_done(request, f))
        return request.future

    def _on_done(self, request: _Request, future: asyncio.Future) -> None:
        if future.cancelled():  # the client went away: do not run its remaining rows
            with self._cond:
                request.cancelled = True

    # -- the inference thread ----------------------------------------------------------------
    def _share(self) -> int:
        """Rows for the calling idle thread: the queue split over the idle threads, at most
        ``max_batch`` (called under the lock, before the caller counts as busy)."""
        return share_rows(self._queued, self.workers - self._busy, self.max_batch)

    def _take(self, room: int) -> list[tuple[_Request, int, int]]:
        """Up to ``room`` rows from the head of the queue: ``[(request, start, stop)]``."""
        pieces: list[tuple[_Request, int, int]] = []
        while room and self._pending:
            req = self._pending[0]
            if req.cancelled or req.failed:
                self._pending.popleft()
                self._queued -= req.n - req.scheduled
                continue
            take = min(room, req.n - req.scheduled)
            pieces.append((req, req.scheduled, req.scheduled + take))
            if req.scheduled == 0:
                self.observer.queued(self.name, time.perf_counter() - req.submitted)
            req.scheduled += take
            self._queued -= take
            room -= take
            if req.scheduled == req.n:
                self._pending.popleft()
        return pieces

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed and not self._pending:
                    return
                waited = 0.0
                if self._queued < self.max_batch and self._decoding > 0 and self.max_wait_s > 0:
                    # More requests are decoding: give them up to max_wait_s to join this batch.
                    t0 = time.perf_counter()
                    deadline = t0 + self.max_wait_s
                    while self._queued < self.max_batch and self._decoding > 0:
                        remaining = deadline - time.perf_counter()
                        if remaining <= 0 or self._closed:
                            break
                        self._cond.wait(remaining)
                    waited = time.perf_counter() - t0
                pieces = self._take(self._share())
                self.observer.queue_depth(self.name, self.depth)
                if not pieces:
                    continue
                self._busy += 1
                if self._pending:
                    self._cond.notify()  # the rest is for another idle thread
            try:
                self._run_pieces(pieces, waited)
            finally:
                with self._cond:
                    self._busy -= 1

    def _run_pieces(self, pieces: list[tuple[_Request, int, int]], waited: float) -> None:
        rows = sum(stop - start for _, start, stop in pieces)
        shape = bucket_size(rows, self.max_batch) if self.bucket else rows
        try:
            # Only now are this run's rows cut from the queued clips: (rows, L) float32 (inside
            # the try: a failed cut fails these requests, not the inference thread).
            if len(pieces) == 1:
                req, start, stop = pieces[0]
                x = req.chunks.rows(start, stop)
            else:
                x = np.concatenate([req.chunks.rows(start, stop) for req, start, stop in pieces])
            if shape > rows:
                x = np.concatenate([x, np.zeros((shape - rows, x.shape[1]), dtype=np.float32)])
            t0 = time.perf_counter()
            probs = self._run(x)
            if probs.shape != (shape, self.n_outputs):
                raise RuntimeError(
                    f"model {self.name!r} returned {probs.shape} for a batch of {shape} chunks"
                )
        except Exception as exc:
            log.exception("inference failed for a batch of %d chunks", rows)
            for req in {id(r): r for r, _, _ in pieces}.values():
                with self._cond:
                    req.failed = True
                _deliver(req.loop, _set_exception, req.future, exc)
            return
        run_s = time.perf_counter() - t0
        self.observer.batch(self.name, self.provider, rows, run_s)
        finished = []
        offset = 0
        for req, start, stop in pieces:
            req.out[start:stop] = probs[offset : offset + stop - start]  # this run's own rows
            offset += stop - start
        with self._cond:  # other threads may hold rows of the same requests
            # Retry-After estimate: time per row of one run, divided among the threads.
            per_row = run_s / rows / self.workers
            self._sec_per_row = (
                per_row if not self._sec_per_row else 0.8 * self._sec_per_row + 0.2 * per_row
            )
            self.stats.runs += 1
            self.stats.rows += rows
            self.stats.history.append(
                BatchRecord(rows, shape, len({id(r) for r, _, _ in pieces}), waited, run_s)
            )
            for req, start, stop in pieces:
                req.done += stop - start
                if req.done == req.n:
                    finished.append(req)
        for req in finished:
            _deliver(req.loop, _set_result, req.future, req.out)

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self, timeout: float = 10.0) -> None:
        """Finish the queued work, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _deliver(
    loop: asyncio.AbstractEventLoop, fn: Callable, future: asyncio.Future, value: object
) -> None:
    # A closed event loop raises RuntimeError: nobody waits for this result any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, future, value)


def _set_result(future: asyncio.Future, value: np.ndarray) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
