# syntax=docker/dockerfile:1
#
# Stages:
#   serve (default)  FastAPI + onnxruntime-gpu, no torch; CUDA 13 + cuDNN 9 come as pip wheels
#   train            torch 2.14.1 (CUDA 13 build) for `python -m training ...` on a GPU
#   library          serve + Ray Data and LanceDB (the `library` extra): `python -m app library`,
#                    the Ray head and workers of compose's `library` profile, TAGGER_LIBRARY
#
# Base choice: python:3.11-slim-bookworm plus onnxruntime-gpu[cuda,cudnn]. The extras install the
# CUDA 13 runtime and cuDNN 9 libraries as wheels that onnxruntime.preload_dlls() loads, so the
# image only needs the host's NVIDIA driver (via the NVIDIA Container Toolkit). Compared with an
# nvidia/cuda:13-cudnn-runtime base this pins every library with the Python packages, keeps one
# Python (3.11, the project's), and skips the CUDA libraries onnxruntime never loads.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin tagger
WORKDIR /src
# Dependency layers depend on pyproject.toml only, so code edits do not reinstall them.
COPY pyproject.toml README.md ./
COPY docker/requirements_from_pyproject.py docker/

# ---------------------------------------------------------------------------------------------
FROM base AS serve-deps
RUN python docker/requirements_from_pyproject.py serve > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

# ---------------------------------------------------------------------------------------------
FROM base AS train
RUN python docker/requirements_from_pyproject.py serve train > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt
COPY app app
COPY tagging tagging
COPY training training
RUN pip install --no-deps . \
 && mkdir -p /models /runs /data && chown 10001:10001 /models /runs
USER 10001:10001
WORKDIR /home/tagger
ENTRYPOINT ["python", "-m", "training"]
CMD ["--help"]

# ---------------------------------------------------------------------------------------------
# Before `serve`: the last stage is the default target, and the default image stays lean.
FROM serve-deps AS library
RUN python docker/requirements_from_pyproject.py serve library > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt
COPY app app
COPY tagging tagging
RUN pip install --no-deps . \
 && python -c "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is not None)" \
 && rm -rf /src
COPY --chown=10001:10001 models /models
USER 10001:10001
WORKDIR /home/tagger
ENV TAGGER_MODELS_DIR=/models \
    TAGGER_PROVIDERS=auto \
    RAY_USAGE_STATS_ENABLED=0
EXPOSE 8000 6379
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--no-server-header"]

# ---------------------------------------------------------------------------------------------
FROM serve-deps AS serve
COPY app app
COPY tagging tagging
# The serving image must never hold torch (it would add gigabytes and is never imported).
RUN pip install --no-deps . \
 && python -c "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is not None)" \
 && rm -rf /src
COPY --chown=10001:10001 models /models
USER 10001:10001
WORKDIR /home/tagger
ENV TAGGER_MODELS_DIR=/models \
    TAGGER_PROVIDERS=auto
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request as r; sys.exit(r.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"]
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--no-server-header"]
