"""Admission of uploads before their body is read, and rate-limited logging of refusals.

``POST /predict`` decides whether it can take a request from its headers alone: the model's
inference queue must have room (:meth:`app.batching.Batcher.admit`) and fewer than
``TAGGER_MAX_UPLOADS`` uploads may be in flight (received, spooled or waiting to be decoded).
Otherwise it answers 503 with ``Retry-After`` at once and the body is never kept by the
service (:mod:`app.lingering` reads and drops the rest after the answer, within bounds, so the
client reads its 503 instead of a connection reset). Refusals are counted and logged as one summary
line per ``TAGGER_OVERLOAD_LOG_INTERVAL_S`` instead of one WARNING line each.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from app.batching import QueueFullError

log = logging.getLogger("app")


class UploadsFullError(QueueFullError):
    """Too many uploads in flight (503 with ``Retry-After``)."""


class OverloadLog:
    """One WARNING line per interval with the count of 503s since the last line (thread-safe)."""

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
            "overloaded: answered 503 to %d request(s) in the last %g s (%s)",
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
                err = UploadsFullError.retry_in(
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
