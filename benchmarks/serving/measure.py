"""Measurements of a process from /proc (CPU time, RSS, peak RSS, RSS curve) and latency percentiles."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_memory_mb(pid: int) -> dict[str, float]:
    """``{"rss_mb", "hwm_mb"}`` of a process (VmRSS, VmHWM of /proc/<pid>/status)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024  # kB -> MiB
    return {"rss_mb": values.get("VmRSS", 0.0), "hwm_mb": values.get("VmHWM", 0.0)}


class RssSampler:
    """Samples a process's VmRSS every ``every_s`` in a thread; :meth:`stop` returns the RSS at
    25, 50, 75 and 100 % of the sampled time (flat = no growth from quartile to quartile)."""

    def __init__(self, pid: int, every_s: float = 0.5) -> None:
        self.pid = pid
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)
        self._thread.start()

    def _run(self, every_s: float) -> None:
        while not self._stop.is_set():
            self.samples.append(proc_memory_mb(self.pid)["rss_mb"])
            self._stop.wait(every_s)

    def stop(self) -> list[float]:
        self._stop.set()
        self._thread.join()
        self.samples.append(proc_memory_mb(self.pid)["rss_mb"])
        n = len(self.samples)
        return [
            round(self.samples[min(n - 1, max(0, round(q * n) - 1))], 1)
            for q in (0.25, 0.5, 0.75, 1.0)
        ]


def percentile_ms(latencies: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(latencies) * 1000, q)) if latencies else float("nan")
