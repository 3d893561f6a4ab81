"""Models directory, model cards and onnxruntime sessions (loaded lazily, cached, thread-safe).

A model is ``<models_dir>/<name>/model.onnx`` + ``card.json`` (docs/ARCHITECTURE.md, "Model
cards"). Names are only ever taken from the directory listing and must match :data:`NAME_RE`, so
a name from a request is looked up, never joined into a path: ``../x``, absolute paths and
encoded variants are simply unknown models.
"""

from __future__ import annotations

import ctypes
import json
import logging
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from pydantic import ValidationError

from app.batching import bucket_sizes
from app.config import DEFAULT_MODEL, Settings
from app.cuda import (
    cpu_nodes_of_concern,
    driver_note,
    driver_version,
    placement_from_profile,
    preload_report,
)
from app.errors import ModelLoadError, UnknownModelError
from tagging.card import ModelCard
from tagging.chunks import Chunks
from tagging.clips import ClipRule

log = logging.getLogger("app")

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
"""Valid model directory names: no separators, no leading dot (so never ``.`` or ``..``)."""

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

CUDA_PROVIDER_OPTIONS: dict[str, str] = {
    # Chunks have a fixed length and, with batch buckets (the default on CUDA), batches are
    # padded to 1, 2, 4, ... max_batch rows: only log2(max_batch) + 1 input shapes ever reach the
    # session and warm-up runs each of them once. EXHAUSTIVE benchmarks the conv algorithms once
    # per shape, i.e. only during warm-up, and then uses the fastest one on every request.
    # Without buckets (TAGGER_BATCH_BUCKETS=off) any size 1..max_batch can appear on live
    # requests, so HEURISTIC is used instead (see ModelRegistry.cuda_options).
    "cudnn_conv_algo_search": "EXHAUSTIVE",
    "do_copy_in_default_stream": "1",
    # Grow the arena by what is asked, not by powers of two: batches are small and bounded.
    "arena_extend_strategy": "kSameAsRequested",
}


def cuda_driver_problem() -> str | None:
    """Why the CUDA provider cannot work on this host (no NVIDIA driver), or None.

    onnxruntime-gpu only finds out by loading its CUDA provider, which first maps the CUDA and
    cuDNN libraries of the nvidia wheels (~250 MB of RSS that stays for the life of the process)
    and then fails on the missing driver. ``libcuda.so.1`` is the driver's library: without it
    no CUDA program can run, so the service skips the attempt.
    """
    if sys.platform != "linux":
        return None  # let onnxruntime decide elsewhere
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        return f"no NVIDIA driver on this host ({exc})"
    return None


class ProviderUnavailableError(RuntimeError):
    """``providers=cuda`` was asked for but onnxruntime cannot run the model on CUDA."""

    @classmethod
    def because(cls, reason: str) -> ProviderUnavailableError:
        """The error for ``reason``, with the NVIDIA driver found and the one CUDA 13 needs."""
        return cls(f"providers=cuda but {reason}; {driver_note(driver_version())}")


def card_evaluations(card: ModelCard) -> list[dict[str, Any]]:
    """Every evaluation of the card, headline first (migrated from a legacy block on read)."""
    return card.evaluations


@dataclass
class LoadedModel:
    """An onnxruntime session with its card and the provider it really runs on."""

    name: str
    card: ModelCard
    session: ort.InferenceSession
    requested: str
    provider: str
    fallback: bool
    fallback_reason: str | None
    load_ms: float
    warmup_ms: float = 0.0
    bucket: bool = False  # batches are padded to powers of two (see app.batching)
    workers: int = 1  # concurrent runs of the session (the batcher's inference threads)
    max_batch: int = 16  # most chunks per run
    sec_per_row: float = 0.0  # one run of max_batch at warm-up, per chunk (seeds Retry-After)
    # Distinct nodes per execution provider, from the profiled warm-up (CUDA loads only).
    placement: dict[str, int] | None = None
    runs: int = field(default=0, repr=False)

    @property
    def tags(self) -> list[str]:
        return self.card.tags

    @property
    def chunk_samples(self) -> int:
        return self.card.chunk_samples

    @property
    def sample_rate(self) -> int:
        return self.card.sample_rate

    @property
    def clip_rule(self) -> ClipRule:
        """The card's clip rule: which chunks of a clip the model scores."""
        return self.card.clip_rule

    @property
    def embedding_size(self) -> int | None:
        """Width D of the model's ``embedding`` output (its card's), or None without one."""
        return None if self.card.embedding is None else self.card.embedding.size

    @property
    def n_outputs(self) -> int:
        """Columns of a :meth:`run`'s rows: K probabilities, then D embedding values if any."""
        return len(self.tags) + (self.embedding_size or 0)

    def run(self, chunks: np.ndarray) -> np.ndarray:
        """One onnxruntime run: ``(B, chunk_samples)`` float32 -> ``(B, K + D)`` rows, the
        probabilities in the first K columns and the embedding (if the card names one) in the
        D after them: one matrix, so the batcher hands each request its rows in one copy
        (:meth:`split` takes them apart)."""
        names = [self.card.output_name]
        if self.card.embedding is not None:
            names.append(self.card.embedding.output)
        outs = self.session.run(names, {self.card.input_name: np.ascontiguousarray(chunks)})
        if len(outs) == 1:
            return np.asarray(outs[0], dtype=np.float32)
        return np.concatenate(outs, axis=1, dtype=np.float32)  # (B, K) | (B, D) -> (B, K + D)

    def split(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`run`'s ``(N, K + D)`` rows -> ``(N, K)`` probabilities and ``(N, D)``
        embeddings (None when the model has no embedding)."""
        k = len(self.tags)
        probs = np.ascontiguousarray(rows[:, :k])
        return probs, (np.ascontiguousarray(rows[:, k:]) if self.embedding_size else None)

    def run_batched(self, chunks: np.ndarray | Chunks, max_batch: int) -> np.ndarray:
        """``(N, L)`` -> ``(N, K + D)`` (:meth:`run`) in runs of at most ``max_batch`` chunks
        (lazy chunks: each run cuts its own rows, as the batcher does)."""
        n, take = len(chunks), Chunks.of(chunks).rows  # an array is wrapped without a copy
        outs = [self.run(take(i, min(i + max_batch, n))) for i in range(0, n, max_batch)]
        return np.concatenate(outs, axis=0)

    def warm_up(self, max_batch: int) -> None:
        """Run the shapes requests will use and check the output: every bucket when batches
        are bucketed (so cuDNN's algorithm search happens here), else 1 and ``max_batch``."""
        t0 = time.perf_counter()
        shapes = bucket_sizes(max_batch) if self.bucket else sorted({1, max_batch})
        for batch in shapes:
            rows = self.run(np.zeros((batch, self.chunk_samples), dtype=np.float32))
            if rows.shape != (batch, self.n_outputs):
                raise ModelLoadError(
                    f"model {self.name!r} returned shape {rows.shape} for a batch of {batch}; "
                    f"its card promises ({batch}, {len(self.tags)}) probabilities and an "
                    f"embedding of {self.embedding_size or 0} (columns after them)"
                )
        self.warmup_ms = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()  # a second, warm run of the largest shape: time per chunk
        self.run(np.zeros((max_batch, self.chunk_samples), dtype=np.float32))
        self.sec_per_row = (time.perf_counter() - t1) / max_batch


class ModelRegistry:
    """Lists the models directory, reads cards, and loads sessions once each (thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models_dir = Path(settings.models_dir).resolve()
        self._loaded: dict[str, LoadedModel] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._preload_problem: str | None = None  # set once preload_dlls() has run
        self._dlls_preloaded = False
        # Models found unusable (bad card, ONNX that does not load, wrong I/O): name ->
        # (stamp of their files when checked, reason). Listed under "invalid", never loaded.
        self._invalid: dict[str, tuple[tuple[int, ...], str]] = {}

    # -- directory and cards ---------------------------------------------------------------
    def names(self) -> list[str]:
        """Model names in the directory (sorted): folders with a valid name, model.onnx and card."""
        if not self.models_dir.is_dir():
            return []
        return sorted(
            p.name
            for p in self.models_dir.iterdir()
            if NAME_RE.match(p.name)
            and p.is_dir()
            and (p / "model.onnx").is_file()
            and (p / "card.json").is_file()
        )

    def check_name(self, name: str) -> str:
        """``name`` if it is a model in the directory, else :class:`UnknownModelError`."""
        available = self.names()
        if name not in available:
            raise UnknownModelError(name, available)
        return name

    def card(self, name: str) -> ModelCard:
        """The validated card of a model (:class:`UnknownModelError` if unknown,
        :class:`ModelLoadError` if the card is unusable)."""
        name = self.check_name(name)
        if name in self._loaded:
            return self._loaded[name].card
        path = self.models_dir / name / "card.json"
        try:
            return ModelCard.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, ValidationError) as exc:
            raise ModelLoadError(
                f"model {name!r} has an unusable card.json: {self.scrub(str(exc))}"
            ) from exc

    def scrub(self, message: str) -> str:
        """``message`` without the models directory's absolute path (errors name models, not
        files on the server)."""
        return message.replace(str(self.models_dir) + "/", "").replace(
            str(self.models_dir), "models"
        )

    def cards(self) -> tuple[dict[str, ModelCard], dict[str, str]]:
        """Every usable model's card by name, and why every unusable one is not (its card
        cannot be read, or its ONNX file failed to load: :meth:`validate`)."""
        good: dict[str, ModelCard] = {}
        bad: dict[str, str] = {}
        for name in self.names():
            try:
                good[name] = self.card(name)
            except ModelLoadError as exc:
                bad[name] = exc.detail
                continue
            reason = self.invalid_reason(name)
            if reason is not None:
                bad[name] = reason
                del good[name]
        return good, bad

    # -- validation --------------------------------------------------------------------------
    def _stamp(self, name: str) -> tuple[int, ...]:
        stamp: list[int] = []
        for file in ("model.onnx", "card.json"):
            try:
                st = (self.models_dir / name / file).stat()
                stamp += [st.st_mtime_ns, st.st_size]
            except OSError:
                stamp += [-1, -1]
        return tuple(stamp)

    def invalid_reason(self, name: str) -> str | None:
        """Why ``name`` is unusable, if a check or load found so (and its files are unchanged)."""
        entry = self._invalid.get(name)
        if entry is None or entry[0] != self._stamp(name):
            return None
        return entry[1]

    def _mark_invalid(self, name: str, reason: str) -> None:
        self._invalid[name] = (self._stamp(name), reason)
        log.warning("model %s is unusable: %s", name, reason)

    def validate(self, name: str) -> str | None:
        """Check that a model can be loaded (card, ONNX parses into a CPU session, inputs and
        outputs match the card) without keeping it; the reason it cannot, or None."""
        if name in self._loaded:
            return None
        known = self._invalid.get(name)
        if known is not None and known[0] == self._stamp(name):
            return known[1]
        try:
            card = self.card(name)
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            options.enable_cpu_mem_arena = False
            options.intra_op_num_threads = 1
            path = self.models_dir / name / "model.onnx"
            try:
                session = ort.InferenceSession(str(path), options, providers=[CPU])
            except Exception as exc:
                raise ModelLoadError(
                    f"onnxruntime cannot load {name!r}: {self.scrub(str(exc))}"
                ) from exc
            self._check_io(name, card, session)
        except ModelLoadError as exc:
            self._mark_invalid(name, exc.detail)
            return exc.detail
        return None

    def validate_all(self) -> dict[str, str]:
        """:meth:`validate` every model in the directory; the unusable ones with their reason."""
        reasons = {name: self.validate(name) for name in self.names()}
        return {name: reason for name, reason in reasons.items() if reason is not None}

    def choose_default(self) -> str:
        """The configured default, else the best macro ROC-AUC of the cards' headline evaluations
        (``evaluations[0]``; ties and no scores: by name), models trained on synthetic audio last
        (their figures come from the generator's idea of the tags, not from music).

        The built-in default (:data:`app.config.DEFAULT_MODEL`) falls back to the best macro
        ROC-AUC when the directory lacks it; a default set by the user must exist
        (:class:`UnknownModelError`)."""
        wanted = self.settings.default_model
        if wanted and (wanted != DEFAULT_MODEL or wanted in self.names()):
            return self.check_name(wanted)
        cards, bad = self.cards()
        if not cards:
            why = f" (unusable: {bad})" if bad else ""
            raise ModelLoadError(
                f"no usable model in {self.models_dir}{why}: each model needs "
                "<name>/model.onnx and <name>/card.json (python -m training export)"
            )

        def key(name: str) -> tuple[bool, float, str]:
            score = cards[name].headline_roc_auc()
            synthetic = cards[name].trained_on == "synthetic"
            return (synthetic, -(score if score is not None else -np.inf), name)

        return min(cards, key=key)

    # -- sessions ----------------------------------------------------------------------------
    def loaded(self) -> dict[str, LoadedModel]:
        return dict(self._loaded)

    def loaded_model(self, name: str) -> LoadedModel | None:
        """The model if it is loaded already, else None (never loads)."""
        return self._loaded.get(name)

    def get(self, name: str) -> LoadedModel:
        """The loaded model, loading (and warming up) on first use; safe to call from threads."""
        if name in self._loaded:
            return self._loaded[name]
        self.check_name(name)
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._loaded:
                reason = self.invalid_reason(name)
                if reason is not None:
                    raise ModelLoadError(reason)
                try:
                    self._loaded[name] = self._load(name)
                except ModelLoadError as exc:
                    self._mark_invalid(name, exc.detail)
                    raise
        return self._loaded[name]

    def session_options(self, cuda: bool, profile_dir: Path | None = None) -> ort.SessionOptions:
        """Session options for serving (why each, with the measurements: docs/API.md,
        "Performance").

        Threads: on CPU the batcher runs ``inference_threads`` (default: the usable cores)
        single-threaded runs at once, each on its own batch or its share of one, instead of one
        run with an intra-op pool over every core: in a pool, the thread that started a parallel
        operator busy-waits until the others finish their part, and in a server those threads
        are often preempted by decoding or the event loop, so the waiting burns CPU.
        Single-threaded runs never wait for each other. On CUDA one run at a time (the GPU does
        the parallel work) with ``intra_op`` = the usable cores for the CPU-side operators.
        Sequential execution (inter-op = 1: the graphs are chains with nothing to run side by
        side). Spinning is off by default: between runs spinning threads would take CPU from
        the decoders. Full graph optimisation (fusions, layout).

        Memory: on CPU the arena is on (``ort_cpu_arena``) and memory patterns off: without the
        arena every run's large buffers come from mmap (the server pins the mmap threshold) and
        are zeroed page by page again, a third of the CPU of a run; with it the buffers of the
        largest batches run at once (``max_batch`` rows per thread) stay allocated. Patterns
        (one per batch size) only add memory. On CUDA the device memory has its own arena
        (``arena_extend_strategy``) and patterns pay off: batch buckets mean few shapes.
        """
        s = self.settings
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = s.intra_op(cuda)
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = s.ort_cpu_arena
        options.enable_mem_pattern = cuda
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if s.ort_spinning else "0"
        )
        if profile_dir is not None:
            options.enable_profiling = True
            options.profile_file_prefix = str(profile_dir / "placement")
        return options

    def buckets(self, provider: str) -> bool:
        """Whether batches are padded to powers of two for a session on ``provider``."""
        if self.settings.batch_buckets == "auto":
            return provider == CUDA
        return self.settings.batch_buckets == "on"

    def cuda_options(self) -> dict[str, str]:
        options = dict(
            CUDA_PROVIDER_OPTIONS,
            device_id=str(self.settings.cuda_device_id),
            use_tf32="1" if self.settings.cuda_tf32 else "0",
            cudnn_conv1d_pad_to_nc1d="1" if self.settings.cuda_conv1d_pad_to_nc1d else "0",
        )
        if self.settings.batch_buckets == "off":
            options["cudnn_conv_algo_search"] = "HEURISTIC"
        return options

    def _preload_cuda(self) -> str | None:
        """Load the CUDA/cuDNN libraries of the nvidia-* wheels once (onnxruntime >= 1.21); why
        CUDA cannot run when a required one is missing, else None.

        ``preload_dlls()`` prints ``Failed to load <library>`` instead of raising, so its output
        is captured and read (:func:`app.cuda.preload_report`)."""
        if self._dlls_preloaded or not hasattr(ort, "preload_dlls"):
            return self._preload_problem
        self._dlls_preloaded = True
        output, failures = preload_report(ort.preload_dlls)
        if output.strip():
            log.info("onnxruntime.preload_dlls(): %s", output.strip())
        if failures:
            self._preload_problem = "onnxruntime.preload_dlls() failed to load " + "; ".join(
                failures
            )
            log.error("CUDA libraries missing: %s", self._preload_problem)
        return self._preload_problem

    def create_session(
        self,
        path: Path,
        disabled_optimizers: list[str] | None = None,
        profile_dir: Path | None = None,
    ) -> tuple[ort.InferenceSession, str, str | None]:
        """``(session, provider in use, fallback reason or None)`` for ``settings.providers``.

        The provider in use is read back from ``session.get_providers()``: onnxruntime-gpu lists
        CUDA as available even without a GPU or driver and then silently runs on CPU. A CUDA
        session has onnxruntime's own fallback disabled (``disable_fallback``): a CUDA failure
        inside a run raises instead of silently moving the session to the CPU while ``/models``
        says CUDA. ``profile_dir``: where a CUDA session profiles its warm-up (node placement).
        """
        wanted = self.settings.providers
        available = ort.get_available_providers()
        reason: str | None = None
        providers: list[Any]
        if wanted == "cpu":
            providers = [CPU]
        elif CUDA not in available:
            reason = f"this onnxruntime build has no {CUDA} (available: {', '.join(available)})"
            providers = [CPU]
        elif (problem := cuda_driver_problem() or self._preload_cuda()) is not None:
            reason = f"{CUDA} cannot run: {problem}"
            providers = [CPU]
        else:
            providers = [(CUDA, self.cuda_options()), CPU]
        if wanted == "cuda" and reason is not None:
            raise ProviderUnavailableError.because(reason)
        disabled = list(disabled_optimizers or [])
        session = self._session(path, providers, disabled, profile_dir)
        in_use = session.get_providers()[0]
        if in_use == CUDA:
            session.disable_fallback()
        if providers[0] != CPU and in_use != CUDA:
            # CUDA silently did not come up: rebuild with the CPU thread layout.
            session = self._session(path, [CPU], disabled)
            in_use = session.get_providers()[0]
        if wanted != "cpu" and in_use != CUDA:
            reason = reason or (
                f"onnxruntime could not create the {CUDA} (no GPU, driver, CUDA or cuDNN "
                f"libraries; see onnxruntime's error log) and runs on {in_use}"
            )
            if wanted == "cuda":
                raise ProviderUnavailableError.because(reason)
        return session, in_use, reason

    def _session(
        self,
        path: Path,
        providers: list[Any],
        disabled: list[str],
        profile_dir: Path | None = None,
    ) -> ort.InferenceSession:
        cuda = providers[0] != CPU
        try:
            return ort.InferenceSession(
                str(path),
                sess_options=self.session_options(cuda, profile_dir if cuda else None),
                providers=providers,
                disabled_optimizers=disabled or None,
            )
        except Exception as exc:
            raise ModelLoadError(
                f"onnxruntime cannot load {path.parent.name!r}: {self.scrub(str(exc))}"
            ) from exc

    def _load(self, name: str) -> LoadedModel:
        """Create, check and warm up the session; count its nodes per provider on CUDA.

        A warm-up failure on CUDA (an out-of-memory, a kernel without an implementation for
        a shape, a broken driver) never escapes as a raw exception (which would crash start-up
        and be retried on every request): under ``auto`` the model is rebuilt on CPU with the
        error as its fallback reason, under ``cuda`` it becomes a :class:`ModelLoadError`, so
        :meth:`get` marks the model invalid with that reason.
        """
        card = self.card(name)
        path = self.models_dir / name / "model.onnx"
        with tempfile.TemporaryDirectory(prefix="ort-placement-") as tmp:
            t0 = time.perf_counter()
            session, provider, reason = self.create_session(
                path, card.ort_disabled_optimizers, Path(tmp)
            )
            self._check_io(name, card, session)
            model = self._model(name, card, session, provider, reason, t0)
            try:
                self._warm_up(model)
                if provider == CUDA:
                    model.placement = self._placement(name, session)
            except ModelLoadError as exc:
                if provider != CUDA or self.settings.providers == "cuda":
                    raise
                why = exc.detail.removeprefix(f"model {name!r}: ")
                model = self._rebuild_on_cpu(model, path, why, t0=time.perf_counter())
        self._log_loaded(model)
        return model

    def _model(
        self,
        name: str,
        card: ModelCard,
        session: ort.InferenceSession,
        provider: str,
        reason: str | None,
        t0: float,
    ) -> LoadedModel:
        cuda = provider == CUDA
        return LoadedModel(
            name=name,
            card=card,
            session=session,
            requested=self.settings.providers,
            provider=provider,
            fallback=reason is not None,
            fallback_reason=reason,
            load_ms=(time.perf_counter() - t0) * 1000,
            bucket=self.buckets(provider),
            workers=self.settings.inference_workers(cuda=cuda),
            max_batch=self.settings.batch_limit(cuda=cuda),
        )

    def _warm_up(self, model: LoadedModel) -> None:
        """:meth:`LoadedModel.warm_up`, any onnxruntime error turned into a ModelLoadError."""
        try:
            model.warm_up(model.max_batch)
        except ModelLoadError:
            raise
        except Exception as exc:
            why = f"warm-up on {model.provider} failed: {type(exc).__name__}: {exc}"
            if model.provider == CUDA:
                why += f" ({driver_note(driver_version())})"
            log.error("model %s: %s", model.name, why)
            raise ModelLoadError(f"model {model.name!r}: {self.scrub(why)}") from exc

    def _rebuild_on_cpu(self, failed: LoadedModel, path: Path, why: str, t0: float) -> LoadedModel:
        """The model on a fresh CPU session after its CUDA warm-up failed (``auto``); the
        fallback reason is the warm-up error ``why``."""
        disabled = list(failed.card.ort_disabled_optimizers or [])
        failed.session = None  # type: ignore[assignment]  # let the CUDA session go first
        session = self._session(path, [CPU], disabled)
        model = self._model(failed.name, failed.card, session, CPU, f"{why}; rebuilt on {CPU}", t0)
        self._warm_up(model)
        return model

    def _placement(self, name: str, session: ort.InferenceSession) -> dict[str, int] | None:
        """End the warm-up's profile and count its nodes per provider (logged; a CUDA session
        with real work on the CPU is a WARNING). The profile file goes with its folder."""
        try:
            placement = placement_from_profile(Path(session.end_profiling()))
        except (OSError, ValueError) as exc:
            log.warning("model %s: node placement unknown (profile unreadable: %s)", name, exc)
            return None
        log.info("model %s: nodes per execution provider %s", name, placement.by_provider)
        concern = cpu_nodes_of_concern(placement.cpu_by_op)
        if concern:
            log.warning(
                "model %s: CUDA requested but these nodes run on the CPU (operator: count): %s",
                name,
                concern,
            )
        return placement.by_provider

    def _log_loaded(self, model: LoadedModel) -> None:
        if model.fallback_reason is not None:
            log.warning(
                "model %s: CUDA requested but FALLING BACK to CPU: %s",
                model.name,
                model.fallback_reason,
            )
        cuda = model.provider == CUDA
        log.info(
            "model %s loaded on %s (session providers %s; %d concurrent run(s) of at most %d "
            "chunks x %d intra-op thread(s); load %.0f ms, warm-up %.0f ms)",
            model.name,
            model.provider,
            model.session.get_providers(),
            model.workers,
            model.max_batch,
            self.settings.intra_op(cuda=cuda),
            model.load_ms,
            model.warmup_ms,
        )

    @staticmethod
    def _check_io(name: str, card: ModelCard, session: ort.InferenceSession) -> None:
        inputs = {i.name: i for i in session.get_inputs()}
        outputs = {o.name: o for o in session.get_outputs()}
        if card.input_name not in inputs or card.output_name not in outputs:
            raise ModelLoadError(
                f"model {name!r}: card names input {card.input_name!r} and output "
                f"{card.output_name!r}, the graph has inputs {list(inputs)} and outputs "
                f"{list(outputs)}"
            )
        shape = inputs[card.input_name].shape
        if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != card.chunk_samples):
            raise ModelLoadError(
                f"model {name!r}: input shape {shape} does not take chunks of "
                f"{card.chunk_samples} samples"
            )
        if card.embedding is not None:
            ModelRegistry._check_embedding(name, card, outputs)

    @staticmethod
    def _check_embedding(name: str, card: ModelCard, outputs: dict[str, Any]) -> None:
        """The card's embedding output exists and is ``(batch, size)``."""
        assert card.embedding is not None
        want, size = card.embedding.output, card.embedding.size
        if want not in outputs:
            raise ModelLoadError(
                f"model {name!r}: card names embedding output {want!r}, the graph has outputs "
                f"{list(outputs)} (python -m training add-embedding adds it)"
            )
        shape = outputs[want].shape
        if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != size):
            raise ModelLoadError(
                f"model {name!r}: embedding output {want!r} has shape {shape}, its card says "
                f"(batch, {size})"
            )
