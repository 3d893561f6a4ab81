"""Measurement tools that drive the service and the decoders from outside.

Kept out of ``app/`` so the serving package (and its Docker image) ships no benchmark code:
``python -m benchmarks.serving`` (serving throughput and latency, docs/API.md "Performance"),
``python -m benchmarks.flood`` (upload flood, docs/SECURITY.md) and ``python -m benchmarks.decode``
(decoding speed and memory, reports/decoding/). They may import ``training`` lazily where they
need torch or synthetic audio.
"""
