"""Admission: the one place a request is let in (or refused), once, before its body is read.

:meth:`Admission.admit` decides from what is known before any byte of the audio: fewer than
``TAGGER_MAX_UPLOADS`` uploads may be in flight (an upload slot, for a body still to be
received) and the model's inference queue must have room for a typical clip
(:meth:`app.batching.Batcher.admit`, which hands out the request's :class:`app.batching.Ticket`).
Otherwise it raises an :class:`app.errors.OverloadedError` at once (``POST /predict`` answers
503 with ``Retry-After``); the body is never kept by the service (:mod:`app.lingering` reads and
drops the rest after the answer, within bounds, so the client reads its 503 instead of a
connection reset). Overload refusals, at admission or when more chunks than reserved reach a
full queue, are counted and logged as one summary line per ``TAGGER_OVERLOAD_LOG_INTERVAL_S``
instead of one WARNING line each.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from app.batching import Batcher, Ticket
from app.errors import OverloadedError, UploadsFullError

log = logging.getLogger("app")


class OverloadLog:
    """One WARNING line per interval with the count of overload refusals (503s) since the last
    line (thread-safe)."""

    def __init__(self, interval_s: float, clock=time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._count = 0
        self._reasons: dict[str, int] = {}
        self._last = -float("inf")

    def refused(self, reason: str) -> None:
        """Count one 503; logs a summary when the interval since the last one has passed."""
        with self._lock:
            self._count += 1
            self._reasons[reason] = self._reasons.get(reason, 0) + 1
            now = self._clock()
            if now - self._last < self.interval_s:
                return
            count, reasons = self._count, self._reasons
            self._count, self._reasons, self._last = 0, {}, now
        what = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
        log.warning(
            "overloaded: refused %d request(s) in the last %g s (%s)",
            count,
            self.interval_s,
            what,
        )


class UploadSlots:
    """At most ``limit`` uploads in flight; :meth:`take` refuses at once when none is free."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self._lock = threading.Lock()

    @contextmanager
    def take(self, retry_after_s: int) -> Iterator[None]:
        with self._lock:
            if self.in_flight >= self.limit:
                err = UploadsFullError(
                    f"too many uploads in flight ({self.in_flight}, limit {self.limit}, "
                    "TAGGER_MAX_UPLOADS)",
                    retry_after_s,
                    uploads_in_flight=self.in_flight,
                    max_uploads=self.limit,
                )
                raise err
            self.in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1


class Admission:
    """Upload slots, queue reservations and the overload log of one service (see the module
    docstring)."""

    def __init__(self, max_uploads: int, overload_log_interval_s: float) -> None:
        self.uploads = UploadSlots(max_uploads)
        self.overload_log = OverloadLog(overload_log_interval_s)

    @contextmanager
    def admit(self, batcher: Batcher, estimate: int, upload: bool) -> Iterator[Ticket]:
        """Let one request in: an upload slot when its body is still to be ``upload``-ed, and
        ``estimate`` chunks reserved in ``batcher``'s queue; both are held until the block
        ends, the reservation until the ticket is run. Overload, here or in the block, is
        counted in :attr:`overload_log` and re-raised."""
        try:
            slot = self.uploads.take(batcher.retry_after_s()) if upload else nullcontext()
            with slot:
                ticket = batcher.admit(estimate)
                try:
                    yield ticket
                finally:
                    ticket.cancel()  # gives the reservation back unless it was run
        except OverloadedError as exc:
            self.overload_log.refused(type(exc).__name__)
            raise
