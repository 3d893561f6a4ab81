"""glibc malloc settings that give memory back after load (Linux; a no-op elsewhere).

Decoding a large upload allocates tens of MB per buffer (a 60-s block of 44.1 kHz stereo is
21 MB of float32). glibc serves such buffers with ``mmap`` and unmaps them on free, but only
above its *dynamic* mmap threshold, which rises to the size of every mmapped buffer freed (up
to 32 MB): after the first large upload, the next ones land in the heaps of the decoder
threads' arenas, whose freed pages stay resident. Measured (``python -m benchmarks.flood``, 200
uploads of 19 MB): 179 MB before, 291 MB 30 s after the flood with the dynamic threshold.
Pinning the threshold (``TAGGER_MALLOC_MMAP_THRESHOLD_KB``) keeps large buffers on mmap, and
:func:`trim` hands free heap pages back when the service goes idle.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("app")

M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def pin_mmap_threshold(threshold_bytes: int) -> bool:
    """Serve allocations of at least ``threshold_bytes`` with mmap, always (0: keep glibc's
    dynamic threshold). True when glibc took the setting."""
    libc = _libc()
    if libc is None or threshold_bytes <= 0:
        return False
    ok = bool(libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(threshold_bytes)))
    if not ok:
        log.warning("mallopt(M_MMAP_THRESHOLD, %d) was refused", threshold_bytes)
    return ok


def trim() -> None:
    """Return free heap memory of every malloc arena to the OS (``malloc_trim(0)``)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
