"""Serving benchmark (not a test): ``python -m benchmarks.serving [--model NAME] ...``

For each model it measures, on this machine:

* **served**: the real server (``uvicorn app.main:app`` in a subprocess on a free 127.0.0.1 port,
  one model loaded) under a load generator in another process (``c`` keep-alive connections
  with one request in flight each, ``--requests`` requests per level after ``c`` warm-up
  requests). The default client (``--client raw``) is a minimal HTTP/1.1 client on asyncio
  streams that builds each clip's multipart request once, like wrk: the load generator shares
  the machine's cores with the server, and httpx (``--client httpx``) spends about ten times
  more CPU per request doing the same. Figures: clips/s, p50/p95/p99 latency,
  non-200 answers, the server's RSS after warm-up and after the run, and its peak RSS (VmHWM of
  /proc/<pid>/status: the whole life of the process, start-up and warm-up included).
* **floor**: the same work in-process, without HTTP, multipart, JSON or asyncio: for every
  request ``Tagger.prepare`` (probe, decode, mono, resample, the same evenly spaced chunks) and
  straight ``session.run`` calls on a session built by the service's own
  :class:`app.registry.ModelRegistry` (identical session options, thread counts and number of
  concurrent runs, ``workers``). At ``c = 1`` each clip is decoded, then its chunks are split
  over the ``workers`` inference threads (``ceil(N / workers)`` rows each, at most
  ``max_batch``, as the batcher splits a lone request) and run at once; floor latency is the
  median per-clip time of that. With ``c`` in flight, ``min(c, decode_concurrency)`` decoder
  threads feed ``workers`` inference threads that each run whole clips in batches of
  ``max_batch`` (the server's structure, without its batcher). An untimed pass over the clips
  warms it up first (the server gets warm-up requests too). Floor and served runs alternate
  (floor, served, floor, served, ...), with the server idle during floor runs, and
  ``--repeats`` reports the medians of each side.
* **overhead ratio** = floor clips/s / served clips/s (1.0 = serving costs nothing).
* **onnx_vs_torch** = PyTorch eager time / onnxruntime time for one clip's 16 chunks
  (PyTorch: one batch, one thread per usable core; onnxruntime as served: runs of at most
  ``max_batch`` chunks, ``workers`` at a time), the model rebuilt with ``training.models.build_model`` from the card's
  ``architecture``/``model_config`` (weights from ``--checkpoint`` if given, otherwise random
  initialisation: timing does not depend on the weights). ``null`` with a note when torch or the
  architecture is missing.

Clips are synthetic 29.1 s MP3s (``training.data.synth.render_clip``, encoded with
``tagging.audio.encode_mp3``) or, with ``--clip-source mtat``, the real MTAT clip of
tests/data. The last line printed is one JSON object (keys ``clips_per_s``, ``p50_ms``,
``p99_ms``, ``floor_clips_per_s``, ``overhead_ratio``, ``onnx_vs_torch``, ``peak_rss_mb`` for
the first model at the highest concurrency, the same per concurrency under ``by_concurrency``,
and every model under ``models``). ``--requests 2000`` checks that RSS stays flat.

Modules: :mod:`~benchmarks.serving.cli` (flags, one model after another),
:mod:`~benchmarks.serving.runner` (one model: levels of alternating floor and served runs),
:mod:`~benchmarks.serving.floor`, :mod:`~benchmarks.serving.server` (the server under test),
:mod:`~benchmarks.serving.client` (the load generator), :mod:`~benchmarks.serving.torch_compare`,
:mod:`~benchmarks.serving.measure` (/proc figures, percentiles), :mod:`~benchmarks.serving.clips`
(the uploads), :mod:`~benchmarks.serving.report` (table, JSON).
"""

from benchmarks.serving.cli import main, parse_args
from benchmarks.serving.client import load_generator, multipart_request, read_response
from benchmarks.serving.clips import make_clips
from benchmarks.serving.floor import Floor, floor_run, split_run
from benchmarks.serving.report import Level, summarize
from benchmarks.serving.runner import bench_model
from benchmarks.serving.server import SETTING_FLAGS, Server
from benchmarks.serving.torch_compare import torch_comparison

__all__ = [
    "SETTING_FLAGS",
    "Floor",
    "Level",
    "Server",
    "bench_model",
    "floor_run",
    "load_generator",
    "main",
    "make_clips",
    "multipart_request",
    "parse_args",
    "read_response",
    "split_run",
    "summarize",
    "torch_comparison",
]
