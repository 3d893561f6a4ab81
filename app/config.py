"""Service settings (pydantic-settings): every knob is an environment variable ``TAGGER_<NAME>``."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "won_musicnn"
"""Musicnn as trained by Won et al. 2020 on real MTAT: 0.921 macro ROC-AUC over the ten tags on
the MTAT test split (its card); the other ports have only ROC-AUC or only published averages."""
DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
CGROUP_ROOT = Path("/sys/fs/cgroup")
"""The repository's embedded models (``<repo>/models``), independent of the working directory."""


class Settings(BaseSettings):
    """Configuration of one service instance; created in :func:`app.main.create_app`."""

    model_config = SettingsConfigDict(env_prefix="TAGGER_", extra="ignore", frozen=True)

    models_dir: Path = Field(
        DEFAULT_MODELS_DIR,
        description="Directory holding <name>/model.onnx + <name>/card.json per model.",
    )
    default_model: str = Field(
        DEFAULT_MODEL,
        description="Model loaded at start-up and used when a request names none; empty = the "
        "model with the best macro ROC-AUC in its card (ties broken by name). The built-in "
        f"default, {DEFAULT_MODEL!r}, is the ported model with the best real-MTAT evidence "
        "(README, 'Which model'); a models directory without it falls back to the empty rule.",
    )
    providers: Literal["auto", "cuda", "cpu"] = Field(
        "auto",
        description="auto = CUDA if it works, else CPU (with a warning); cuda = refuse to start "
        "without CUDA; cpu = CPU only.",
    )
    cuda_device_id: int = Field(0, ge=0, description="GPU index for the CUDA provider.")
    cuda_tf32: bool = Field(
        False,
        description="Let cuDNN/cuBLAS use TF32 (10-bit mantissa) for float32 convolutions and "
        "matrix products on Ampere and newer GPUs (onnxruntime's use_tf32). Off by default: the "
        "pons_* graphs round to float16 after the mel bank on purpose, and TF32's error is as "
        "large as that step, so parity with the CPU would no longer hold.",
    )
    cuda_conv1d_pad_to_nc1d: bool = Field(
        False,
        description="Run 1-D convolutions (the STFT front-ends, the timbral filters' per-bin "
        "filters, the raw-sample CNNs) as N x C x 1 x D instead of N x C x D x 1 in cuDNN "
        "(onnxruntime's cudnn_conv1d_pad_to_nc1d). Off by default until measured "
        "(python -m benchmarks.gpu conv1d, run by scripts/gpu_check.sh).",
    )
    inference_threads: int = Field(
        0,
        ge=0,
        description="onnxruntime runs in flight per model, each on its own batch or its share of "
        "one (0 = auto: the usable cores on CPU, 1 on CUDA). On CPU several single-threaded runs "
        "beat one multi-threaded run: no thread waits for another inside an operator.",
    )
    intra_op_threads: int = Field(
        0,
        ge=0,
        description="onnxruntime intra-op threads per run (0 = auto: the usable cores divided "
        "by the inference threads, at least 1).",
    )
    max_upload_mb: float = Field(
        20.0, gt=0, description="Largest request body in MiB (413 past it, before reading all)."
    )
    max_duration_s: float = Field(
        600.0, gt=0, description="Longest audio accepted in seconds (413 past it)."
    )
    max_sample_rate: int = Field(
        384_000,
        ge=1,
        description="Highest sample rate accepted in an upload in Hz (415 past it; decoding "
        "holds one block of the source-rate signal).",
    )
    decode_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Wall-clock cap on decoding one upload in seconds (413 past it); a "
        "10-minute file decodes in about a second on one core.",
    )
    min_duration_s: float = Field(
        1.0,
        ge=0,
        description="Shortest audio accepted in seconds (400 below it); clips between this and "
        "one chunk are brought to one chunk as the model card's clip rule says (zero-padded or "
        "tiled).",
    )
    max_clip_chunks: int = Field(
        128,
        ge=0,
        description="Most chunks the clip prediction of a long recording averages: past the "
        "card's clip rule span (e.g. won_musicnn's 16 chunks of 3 s), chunks are spread over the "
        "whole recording, up to this many (128 x 3 s hears 384 s); 0 = the clip rule's chunks "
        "only. Recordings within the span keep exactly the clip rule's chunks.",
    )
    chunk_hop_s: float = Field(
        0.0,
        ge=0,
        description="Hop between segments for segments=true in seconds (0 = the model's chunk "
        "length, i.e. non-overlapping segments).",
    )
    max_batch: int = Field(
        0,
        ge=0,
        description="Most chunks per onnxruntime run, chunks of several requests (0 = auto: 16 "
        "on CUDA, where larger batches use the GPU better; 1 on CPU, where time per chunk is "
        "the same at batch 1 and 4 and onnxruntime's arena keeps the activations of the largest "
        "batch run: pons_musicnn holds 173 MB after runs of 1 against 340 MB after runs of 4, at "
        "34.0 against 35.1 ms per chunk (benchmarks.cpu_batch).",
    )
    batch_wait_ms: float = Field(
        2.0,
        ge=0,
        description="Longest wait for more chunks before a run that is not full; only while "
        "other admitted requests are still decoding (a lone request never waits).",
    )
    max_queue: int = Field(
        512,
        ge=1,
        description="Chunks a model's inference queue holds (reserved by requests decoding + "
        "waiting for a run); past it /predict answers 503 with Retry-After.",
    )
    decode_concurrency: int = Field(
        0, ge=0, description="Uploads decoded at the same time (0 = the usable cores)."
    )
    batch_buckets: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Pad each batch to a power of two (<= max_batch) so the session sees few "
        "shapes: auto = on for CUDA (cuDNN algorithm per shape), off for CPU.",
    )
    switch_interval_ms: float = Field(
        1.0,
        ge=0,
        description="Python's GIL switch interval set at start-up (0 = keep Python's 5 ms). "
        "Short: the batcher and decode threads get the GIL back soon after onnxruntime or "
        "libsndfile release it, instead of waiting up to 5 ms behind the event loop.",
    )
    ort_spinning: bool = Field(
        False,
        description="Let onnxruntime's intra-op threads spin between runs (lower latency, but "
        "they burn cores that decoding needs).",
    )
    ort_cpu_arena: bool = Field(
        True,
        description="onnxruntime's CPU memory arena: activation buffers are reused from run to "
        "run instead of coming from mmap and being zeroed page by page in every run (see "
        "docs/API.md, session options).",
    )
    log_level: str = Field("INFO", description="Log level of the 'app' logger.")
    # -- hardening: admission, timeouts, access (docs/SECURITY.md) --------------------------
    max_uploads: int = Field(
        64,
        ge=1,
        description="/predict requests whose body is being received or waits for decoding, all "
        "models together (each holds one spool file); past it 503 with Retry-After, decided "
        "before the body is read.",
    )
    spool_memory_mb: float = Field(
        1.0,
        ge=0,
        description="Bytes of one upload kept in memory (MiB); the rest of the body streams to a "
        "temporary file in TAGGER_SPOOL_DIR, deleted when the request ends.",
    )
    spool_dir: Path | None = Field(
        None, description="Folder for upload spool files (default: the system's temporary folder)."
    )
    sniff_bytes: int = Field(
        65536,
        ge=16,
        description="Bytes at the start of an upload searched for an audio header before the rest "
        "is read (415 when none is found).",
    )
    body_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Longest wait for the next piece of a request body; past it 408 and the "
        "connection is closed.",
    )
    request_timeout_s: float = Field(
        300.0,
        gt=0,
        description="Upper bound of a whole request, body included (408 while the body is still "
        "arriving, 503 after).",
    )
    refused_drain_mb: float | None = Field(
        None,
        ge=0,
        description="A request answered before its body was read (503 overload, 413, ...) gets "
        "its answer with 'Connection: close', then up to this many MiB of the rest of its body "
        "are read and discarded before the connection closes, so that the client reads the "
        "answer instead of a connection reset (default: TAGGER_MAX_UPLOAD_MB; 0 = close at "
        "once).",
    )
    refused_drain_s: float = Field(
        300.0,
        ge=0,
        description="Longest time the rest of an answered request's body is read and discarded "
        "before the connection closes (see TAGGER_REFUSED_DRAIN_MB; a pause of "
        "TAGGER_BODY_TIMEOUT_S ends it sooner). Long enough for TAGGER_MAX_UPLOAD_MB at the "
        "slow uploads TAGGER_REQUEST_TIMEOUT_S allows.",
    )
    api_keys: SecretStr = Field(
        SecretStr(""),
        description="Comma-separated API keys; when set, every path but the public ones needs "
        "'Authorization: Bearer <key>' (off when empty).",
    )
    api_keys_file: Path | None = Field(
        None, description="File with one API key per line (# comments), added to TAGGER_API_KEYS."
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins allowed to call the API from a browser ('*' = any); "
        "empty = no CORS headers.",
    )
    malloc_mmap_threshold_kb: int = Field(
        1024,
        ge=0,
        description="Allocations from this size (KiB) always use mmap and go back to the OS when "
        "freed (glibc; 0 = glibc's dynamic threshold). See app/memory.py.",
    )
    idle_trim_s: float = Field(
        1.0,
        ge=0,
        description="After this long without a /predict request, free heap memory is handed back "
        "to the OS (malloc_trim; 0 = never).",
    )
    overload_log_interval_s: float = Field(
        10.0,
        gt=0,
        description="503 (overload) answers are logged as one summary line per interval.",
    )
    # -- the mounted library (app/library/search.py, app/routers/library.py) ------------------
    library: Path | None = Field(
        None,
        description="A library folder built by `python -m app library build` to mount: enables "
        "POST /similar, GET /library, /library/{id}/similar and /library/search (404 without). "
        "The service refuses to start when the folder is not a library.",
    )
    library_default_k: int = Field(10, ge=1, description="Neighbours returned when k is not given.")
    library_max_k: int = Field(100, ge=1, description="Largest k a similarity query may ask (422).")
    library_max_results: int = Field(
        500, ge=1, description="Most tracks one /library/search answer lists (its limit; 422)."
    )
    library_max_file_mb: float = Field(
        512.0,
        gt=0,
        description="Largest file a library build tags (an error row above it): whole albums "
        "in FLAC exceed the upload limit (TAGGER_MAX_UPLOAD_MB), which stays the service's.",
    )
    library_max_duration_s: float = Field(
        3600.0,
        gt=0,
        description="Longest recording a library build tags (an error row above it); the "
        "service's uploads keep TAGGER_MAX_DURATION_S.",
    )
    library_exact_below: int = Field(
        10_000,
        ge=0,
        description="Below this many tracks every query compares all embeddings (exact: 47 "
        "ms p50 at 20,000 x 200-d on 2 busy cores, 3.3 s at 1,000,000: reports/library); from "
        "it on, the ANN index answers when the library has one (`python -m app library index`).",
    )
    library_index_min_rows: int = Field(
        10_000, ge=256, description="`library index` builds no index below this (unless --force)."
    )
    library_index_kind: Literal["IVF_PQ", "IVF_HNSW_SQ"] = Field(
        "IVF_PQ", description="Kind of ANN index `library index` builds (cosine)."
    )
    library_nprobes: int = Field(
        40,
        ge=1,
        description="IVF partitions an ANN query probes (recall against latency: at 1,000,000 "
        "tracks, 40 of 1,000 with refine 10 gave recall@10 0.98 at 12 ms p50, reports/library).",
    )
    library_refine_factor: int = Field(
        10,
        ge=1,
        description="An ANN query re-ranks refine_factor x k candidates on their full vectors.",
    )
    library_chunk_embeddings: int = Field(
        32,
        ge=0,
        description="Most chunk embeddings a library build keeps per track (a long recording's "
        "chunks are pooled, in time order, to this many; float16): what /similar re-ranks by. "
        "0 = none kept (and no re-rank). A library keeps the number it was first built with.",
    )
    library_rerank: int = Field(
        30,
        ge=0,
        description="Candidates a similarity query takes by clip embedding and re-ranks by chunk "
        "matching (MaxSim: each query chunk's best cosine with a track's chunks, averaged), when "
        "the library keeps chunk embeddings; 0 = off (clip embedding cosine only). 30 at 1,000,000 "
        "tracks: p50 14.8 ms, recall@10 0.974 against both stages done exactly (50: 17.5 ms, "
        "0.939, as the index then compares fewer full vectors per candidate; reports/library).",
    )
    library_label_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="For a library without decided labels, /library/search takes a tag as "
        "present at this probability.",
    )
    library_refresh_s: float = Field(
        10.0, ge=0, description="How long the mounted library may lag rows a build appends."
    )

    @field_validator("api_keys_file", "spool_dir", "refused_drain_mb", "library", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value  # compose passes unset variables as ""

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @property
    def cores(self) -> int:
        """CPU cores this process may use: its CPU affinity, capped by a cgroup CPU quota
        (``docker run --cpus``, compose ``cpus``), which affinity does not show."""
        try:
            cores = max(len(os.sched_getaffinity(0)), 1)
        except AttributeError:  # not on Linux
            cores = max(os.cpu_count() or 1, 1)
        quota = cgroup_cpu_quota()
        return min(cores, max(1, math.ceil(quota))) if quota else cores

    def inference_workers(self, cuda: bool) -> int:
        """Concurrent onnxruntime runs per model: the setting, else cores (CPU) or 1 (CUDA)."""
        return self.inference_threads or (1 if cuda else self.cores)

    def batch_limit(self, cuda: bool) -> int:
        """Most chunks per run: the setting, else 16 (CUDA) or 1 (CPU)."""
        return self.max_batch or (16 if cuda else 1)

    def intra_op(self, cuda: bool) -> int:
        """Intra-op threads of one run: the setting, else the cores left per concurrent run."""
        return self.intra_op_threads or max(1, self.cores // self.inference_workers(cuda))

    @property
    def decoders(self) -> int:
        return self.decode_concurrency or self.cores

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def refused_drain_bytes(self) -> int:
        mb = self.max_upload_mb if self.refused_drain_mb is None else self.refused_drain_mb
        return int(mb * 1024 * 1024)

    @property
    def spool_memory_bytes(self) -> int:
        return int(self.spool_memory_mb * 1024 * 1024)

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def api_key_list(self) -> list[str]:
        """Every configured API key (environment and file); empty = authentication off."""
        keys = [k.strip() for k in self.api_keys.get_secret_value().split(",")]
        if self.api_keys_file is not None:
            try:
                lines = self.api_keys_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ValueError(
                    f"TAGGER_API_KEYS_FILE={self.api_keys_file} cannot be read: {exc.strerror}"
                ) from exc
            keys += [line.strip() for line in lines if not line.lstrip().startswith("#")]
        return [k for k in keys if k]


def cgroup_cpu_quota(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs allowed by the cgroup's CFS quota (quota / period), or None when unlimited or
    unknown. cgroup v2: ``cpu.max`` (``"max 100000"`` or ``"150000 100000"``); v1:
    ``cpu/cpu.cfs_quota_us`` (-1 = unlimited) and ``cpu/cpu.cfs_period_us``. Inside a container
    these files are the container's own."""
    try:
        v2 = root / "cpu.max"
        if v2.is_file():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1 = root / "cpu" / "cpu.cfs_quota_us"
        if v1.is_file():
            quota_us = int(v1.read_text())
            period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
            return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None
    return None
