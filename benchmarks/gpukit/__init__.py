"""A kit that carries scripts/gpu_check.sh to a bare GPU machine (``python -m benchmarks.gpukit``).

The machine the ``device`` tool lends has Python 3.12 and CUDA's libraries but none of the
service's packages, no package index, and takes 64 MiB per call: the kit is those packages,
compressed and cut into parts of one call each (docs/API.md "GPU (CUDA path)").
"""
