"""Served models against the musicnn package, alternating in one run (benchmark, not a test):
``python -m benchmarks.package [--rounds 10] [--json-out FILE]``.

Both sides tag the same 29.1-s MP3 clips (:mod:`~benchmarks.package.clips`: the real MTAT clip
and 29.1-s cuts of the real recordings of tests/data), one file at a time, in the same run:

* **package**: the musicnn 0.1.0 package (Pons & Serra 2019), ``MTT_musicnn``, loaded once in
  its own throwaway venv (``--package-python``; tensorflow-cpu 2.15.1, numpy<2, never a project
  dependency) and fed file paths over a pipe (``scripts/bench_musicnn_package.py --serve``):
  librosa decode + resample, mel, TF graph, as the package tags a file.
* **served**: the real server (``uvicorn app.main:app`` in a subprocess, CPU provider) over
  HTTP with the raw load generator of :mod:`benchmarks.serving.client` (upload, multipart,
  decode, resample, inference, JSON), at each ``--concurrency`` level, for each ``--model``.

Each round times one pass of every side over the clips (each clip once); the order of the
sides rotates from round to round, so a change in the machine's
background load moves all sides alike. Reported: median clips/s of each side, the median of the
per-round ratios served / package, load average before and after. The top-3 check compares the
package's 50 clip probabilities with served ``pons_musicnn`` (same network, ported) per clip.
"""

from benchmarks.package.cli import main

__all__ = ["main"]
