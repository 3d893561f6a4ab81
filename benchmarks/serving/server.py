"""The server under test: ``uvicorn app.main:app`` in a subprocess, its settings and its metrics."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.serving.clips import REPO
from benchmarks.serving.measure import proc_memory_mb

SETTING_FLAGS = (
    "max_batch",
    "batch_wait_ms",
    "intra_op_threads",
    "inference_threads",
    "max_queue",
    "decode_concurrency",
)
"""Flags passed to the server (and the floor) as ``TAGGER_<NAME>`` settings."""


def server_env(args: argparse.Namespace, name: str) -> dict[str, str]:
    """The ``TAGGER_*`` environment of the server (and the floor) for model ``name``."""
    env = {
        "TAGGER_MODELS_DIR": str(args.models_dir),
        "TAGGER_DEFAULT_MODEL": name,
        "TAGGER_PROVIDERS": args.providers,
        "TAGGER_LOG_LEVEL": "WARNING",
    }
    for key in SETTING_FLAGS:
        value = getattr(args, key)
        if value is not None:
            env[f"TAGGER_{key.upper()}"] = str(value)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``uvicorn app.main:app`` on 127.0.0.1 with one model, as a subprocess."""

    def __init__(
        self, env: dict[str, str], log_path: Path, timeout_s: float = 120, repo: Path = REPO
    ) -> None:
        """``repo``: the checkout whose ``app`` is served (another one to compare code)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with log_path.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
                 "--port", str(self.port), "--log-level", "warning"],
                cwd=log_path.parent,
                env={**os.environ, **env, "PYTHONPATH": str(repo)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        import httpx

        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited ({self.proc.returncode}):\n{log_path.read_text()}"
                )
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server not ready in {timeout_s} s:\n{log_path.read_text()}")
            time.sleep(0.2)

    def memory(self) -> dict[str, float]:
        return proc_memory_mb(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def fetch_metrics(url: str) -> dict[str, float]:
    """A few server-side figures from /prometheus (mean batch size, queue time, runs)."""
    import httpx

    text = httpx.get(url + "/prometheus", timeout=10).text
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in (
            "tagger_batch_size_sum",
            "tagger_batch_size_count",
            "tagger_inference_queue_duration_seconds_sum",
            "tagger_inference_queue_duration_seconds_count",
            "tagger_inference_request_failure_total",
        ):
            sums[name] = sums.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return sums
