"""One learning setup for every architecture: train, validate, keep the best, resume, DDP.

``python -m training train --model NAME --mtat-root DIR --cache DIR --out DIR [--profile quick]``
or ``train(config, cache_dir, out_dir)``. The run directory ``<out>/<model>/`` receives
``last.pt`` (every epoch), ``best.pt`` (best validation ``select_metric``), ``log.csv`` and
``environment.json`` (package versions, CPU, thread count: :mod:`training.environment`).
``train()`` reads top to bottom: :func:`set_up` (data, model, optimiser, schedule), resume
(:func:`load_resumable`, :func:`restore`), then per epoch :func:`train_epoch` and, on rank 0,
:func:`end_epoch` (:func:`validate`, :func:`update_best`, early stopping, :func:`save_epoch`).

* Loss ``BCEWithLogitsLoss`` on random crops (``RandomCropDataset``) of ``chunk_samples``; AdamW
  with a warm-up + cosine schedule stepped per batch; early stopping on the select metric
  (settings and citations in :mod:`training.config`).
* Validation each epoch (rank 0): clip-level predictions (mean sigmoid over ``eval_chunks``
  evenly spaced chunks) through :func:`training.evaluate.evaluate`: loss, binary accuracy,
  macro ROC-AUC and PR-AUC.
* Determinism: seeds for torch/numpy/random; crops depend on ``(seed, epoch, index)`` and the
  shuffle on ``(seed, epoch)`` (``DistributedSampler``), so a resumed run sees the same batches as
  an uninterrupted one; RNG states are saved in checkpoints; deterministic algorithms and a
  fixed intra-op thread count (``threads``) on CPU.
* Resume (default): a killed run restarts after its last completed epoch and ends with the same
  weights (on CPU) as an uninterrupted run. Checkpoints are written atomically.
* CUDA when available, mixed precision (autocast + GradScaler) on CUDA only.
* Multi-GPU / multi-node: the same command under ``torchrun`` (DistributedDataParallel; NCCL on
  CUDA, Gloo on CPU); only rank 0 validates and writes files. ``batch_size`` is per process.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from tagging.constants import SAMPLE_RATE
from tagging.files import atomic_write_text, atomic_write_with
from training.config import PROFILES, TrainConfig, profile

log = logging.getLogger(__name__)

LOG_COLUMNS = (
    "epoch",
    "train_loss",
    "val_loss",
    "val_accuracy",
    "val_roc_auc",
    "val_pr_auc",
    "lr",
    "seconds",
    "clips_per_s",
    "data_wait_share",
)
"""Columns of ``log.csv`` (one row per completed epoch)."""

LOSS_LOG_STEPS = 20
"""Steps between the progress bar's loss readings (each one waits for the device)."""


# --------------------------------------------------------------------------------------------
# process group, devices, seeds
# --------------------------------------------------------------------------------------------


@dataclass
class DistContext:
    """Where this process runs: rank, world size and device (one process per device)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    @classmethod
    def from_env(cls, device_name: str) -> DistContext:
        """Read ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` (set by torchrun) and pick the device."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device_name == "auto":
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            device = torch.device(device_name)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", local_rank if world > 1 else torch.cuda.current_device())
        if device.type == "cuda":
            torch.cuda.set_device(device)
        owns = False
        if world > 1 and not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend=backend, init_method="env://")
            owns = True
        return cls(rank, local_rank, world, device, owns)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (legacy global RNG used by libraries)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def _worker_init_fn(worker_id: int) -> None:
    """Seed numpy/random in each DataLoader worker from torch's per-worker seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)  # noqa: NPY002
    random.seed(seed)


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


class _EpochDataset(Dataset):
    """Items are addressed by ``(epoch, index)`` so persistent workers see the current epoch.

    ``RandomCropDataset.set_epoch`` called in the main process would not reach the copies that
    persistent workers hold; passing the epoch with each index makes crops depend on
    ``(seed, epoch, index)`` whatever the worker count.
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self._epoch: int | None = None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        if epoch != self._epoch:
            self.dataset.set_epoch(epoch)
            self._epoch = epoch
        return self.dataset[index]


class _EpochSampler(Sampler):
    """``DistributedSampler`` (shuffle by ``(seed, epoch)``) yielding ``(epoch, index)`` pairs."""

    def __init__(self, n: int, ctx: DistContext, seed: int) -> None:
        self.inner = DistributedSampler(
            range(n), num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=seed
        )
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.inner.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.epoch, int(i)) for i in self.inner)

    def __len__(self) -> int:
        return len(self.inner)


def _ensure_cache(
    cache_dir: Path, mtat_root: Path | None, ctx: DistContext, workers: int, progress: bool
) -> None:
    """Run ``prepare`` (resumable) on rank 0 when the cache is missing or incomplete."""
    from training.data.cache import CacheError, read_meta

    if ctx.is_main:
        try:
            read_meta(cache_dir)
        except CacheError:
            if mtat_root is None:
                raise
            from training.data.prepare import prepare

            log.info("preparing the cache %s from %s", cache_dir, mtat_root)
            prepare(mtat_root, cache_dir, workers=workers, progress=progress)
    ctx.barrier()


# --------------------------------------------------------------------------------------------
# checkpoints and logs
# --------------------------------------------------------------------------------------------


def save_checkpoint(obj: dict[str, Any], path: Path) -> None:
    """``torch.save`` straight into an atomically replaced file (never a torn checkpoint)."""
    atomic_write_with(path, lambda f: torch.save(obj, f))


def write_environment(run_dir: Path) -> None:
    """``environment.json``: the versions, CPU and thread count this run's figures depend on."""
    from training.environment import environment

    atomic_write_text(run_dir / "environment.json", json.dumps(environment(), indent=2) + "\n")


def write_log(history: list[dict[str, Any]], path: Path) -> None:
    """Rewrite ``log.csv`` from the checkpointed history (no duplicate rows after a resume)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=LOG_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in LOG_COLUMNS})
    atomic_write_text(path, out.getvalue())


def _cpu_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _lr_lambda(config: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Linear warm-up over ``warmup_epochs`` then cosine decay to 0 over the remaining steps."""
    total = max(config.epochs * steps_per_epoch, 1)
    warmup = int(round(config.warmup_epochs * steps_per_epoch))

    def factor(step: int) -> float:
        if config.schedule == "constant":
            return 1.0
        if step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def _improved(metric: float | None, best: float | None, select: str) -> bool:
    if metric is None or (isinstance(metric, float) and math.isnan(metric)):
        return False
    if best is None:
        return True
    return metric < best if select == "loss" else metric > best


# --------------------------------------------------------------------------------------------
# training: set-up, resume, one epoch, validation, checkpoint, early stopping
# --------------------------------------------------------------------------------------------


@dataclass
class Setup:
    """What a run builds once: data, model, optimiser, schedule and where it writes."""

    config: TrainConfig
    ctx: DistContext
    run_dir: Path
    tags: list[str]
    model: nn.Module
    model_config: dict[str, Any]  # the resolved model config (defaults included)
    n_params: int
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    criterion: nn.Module
    sampler: _EpochSampler
    loader: DataLoader
    valid_ds: Any  # ChunkedClipDataset: eval_chunks evenly spaced chunks per clip
    dataset_info: dict[str, Any]
    use_amp: bool
    net: nn.Module  # the model, wrapped in DistributedDataParallel once it is restored

    @property
    def last_path(self) -> Path:
        return self.run_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best.pt"


@dataclass
class RunState:
    """What changes from epoch to epoch and is checkpointed: progress, best so far, history."""

    epoch: int = 0  # completed epochs
    best_metric: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0


@dataclass
class EpochStats:
    """One epoch of training steps: mean loss over all ranks, throughput, time waiting for data."""

    train_loss: float
    clips_per_s: float
    step_seconds: float
    data_wait_s: float
    started: float  # time.perf_counter() at the start of the epoch


def train(
    config: TrainConfig,
    cache_dir: str | Path,
    out_dir: str | Path,
    *,
    mtat_root: str | Path | None = None,
    resume: bool = True,
    progress: bool = True,
    prepare_workers: int = 2,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
) -> Path:
    """Train ``config.model`` on the cache; returns the path of ``<out_dir>/<model>/best.pt``.

    Runs ``prepare`` first when the cache is missing and ``mtat_root`` is given. With ``resume``
    an existing ``last.pt`` of the same setup is continued (a finished run returns at once); a
    ``last.pt`` of a different setup is an error (pass ``resume=False`` to start over).
    ``on_epoch_end(epoch, log_row)`` is called on every rank after each completed epoch.
    """
    config.validate()
    cache_dir, out_dir = Path(cache_dir), Path(out_dir)
    ctx = DistContext.from_env(config.device)
    best_path = out_dir / config.model / "best.pt"
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    previous_threads = torch.get_num_threads()
    try:
        _set_backends(ctx, config.threads)
        _ensure_cache(
            cache_dir, Path(mtat_root) if mtat_root else None, ctx, prepare_workers, progress
        )
        run = set_up(config, cache_dir, out_dir, ctx)
        if ctx.is_main:
            write_environment(run.run_dir)
        state = RunState()
        if resume and run.last_path.is_file():
            ckpt = load_resumable(run.last_path, config)
            if ckpt.get("finished"):
                log.info(
                    "%s already finished (epoch %d); nothing to do", config.model, ckpt["epoch"]
                )
                return best_path
            state = restore(run, ckpt)
        if ctx.distributed:
            run.net = _wrap_ddp(run.model, ctx)
        for epoch in range(state.epoch, config.epochs):
            stats = train_epoch(run, epoch, progress)
            stop, row = False, {}
            if ctx.is_main:
                stop, row = end_epoch(run, state, epoch, stats)
            stop, row = _share_decision(ctx, stop, row)
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, row)
            if stop:
                break
        ctx.barrier()
        return best_path
    finally:
        torch.use_deterministic_algorithms(previous_deterministic)
        torch.set_num_threads(previous_threads)
        if ctx.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _set_backends(ctx: DistContext, threads: int) -> None:
    """Deterministic algorithms on CPU (exact resume) and ``threads`` intra-op threads (0: torch's
    default; CPU float sums depend on the count); cuDNN autotuning on CUDA."""
    if threads > 0:
        torch.set_num_threads(threads)
    if ctx.device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    elif ctx.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: pick the fastest kernels


def set_up(config: TrainConfig, cache_dir: Path, out_dir: Path, ctx: DistContext) -> Setup:
    """Open the train/valid caches, seed, build the model, optimiser, loader, LR schedule and
    validation chunks."""
    from training.data.cache import ClipCache
    from training.data.dataset import ChunkedClipDataset, RandomCropDataset
    from training.models import build_model, count_parameters

    train_cache = ClipCache.open(cache_dir, "train")
    valid_cache = ClipCache.open(cache_dir, "valid")
    tags = list(train_cache.tags)
    if list(valid_cache.tags) != tags:
        raise ValueError("train and valid caches disagree on tags")
    if len(train_cache) == 0 or len(valid_cache) == 0:
        raise ValueError(f"the cache {cache_dir} has an empty train or valid split")

    seed_everything(config.seed)
    model = build_model(config.model, n_tags=len(tags), **config.model_config).to(ctx.device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )

    sampler = _EpochSampler(len(train_cache), ctx, config.seed)
    workers = config.num_workers
    loader = DataLoader(
        _EpochDataset(RandomCropDataset(train_cache, config.chunk_samples, seed=config.seed)),
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=ctx.device.type == "cuda",
        drop_last=len(sampler) >= config.batch_size,  # no 1-clip batches for BatchNorm
        persistent_workers=workers > 0,
        worker_init_fn=_worker_init_fn,
        generator=torch.Generator().manual_seed(config.seed),
        prefetch_factor=4 if workers > 0 else None,
    )
    use_amp = config.amp and ctx.device.type == "cuda"
    return Setup(
        config=config,
        ctx=ctx,
        run_dir=out_dir / config.model,
        tags=tags,
        model=model,
        model_config=dict(model.model_config),  # defaults included
        n_params=count_parameters(model),
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config, len(loader))),
        scaler=torch.amp.GradScaler(ctx.device.type, enabled=use_amp),
        criterion=nn.BCEWithLogitsLoss(),
        sampler=sampler,
        loader=loader,
        valid_ds=ChunkedClipDataset(valid_cache, config.chunk_samples, n_chunks=config.eval_chunks),
        dataset_info={
            "cache": str(cache_dir.resolve()),
            "tags": tags,
            "train_clips": len(train_cache),
            "valid_clips": len(valid_cache),
        },
        use_amp=use_amp,
        net=model,
    )


def load_resumable(last_path: Path, config: TrainConfig) -> dict[str, Any]:
    """``last.pt``, refused when it was written with another setup (``run_identity``)."""
    ckpt = torch.load(last_path, map_location="cpu", weights_only=False)
    saved = TrainConfig.from_dict(ckpt["config"])
    if saved.run_identity() != config.run_identity():
        raise ValueError(
            f"{last_path} was written with a different setup; use another --out, or "
            f"--no-resume to start over.\n saved: {saved.run_identity()}\n now: "
            f"{config.run_identity()}"
        )
    return ckpt


def restore(run: Setup, ckpt: dict[str, Any]) -> RunState:
    """Load weights, optimiser, schedule, scaler and RNG states; the run state to continue."""
    run.model.load_state_dict(ckpt["state_dict"])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    run.scheduler.load_state_dict(ckpt["scheduler"])
    run.scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng_state"])
    state = RunState(
        epoch=int(ckpt["epoch"]),
        best_metric=ckpt["best_metric"],
        best_epoch=int(ckpt["best_epoch"]),
        bad_epochs=int(ckpt["bad_epochs"]),
        history=list(ckpt["history"]),
        train_seconds=float(ckpt["train_seconds"]),
    )
    log.info("%s: resuming after epoch %d", run.config.model, state.epoch)
    return state


def _wrap_ddp(model: nn.Module, ctx: DistContext) -> nn.Module:
    """The model under DistributedDataParallel (gradients all-reduced across ranks)."""
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None
    )


def train_epoch(run: Setup, epoch: int, progress: bool) -> EpochStats:
    """One pass over the training crops: forward, BCE, backward, clip, step (AMP on CUDA).

    The loss stays on the device: each step adds it to a device accumulator, and the host
    reads that (a CPU-GPU sync) only every :data:`LOSS_LOG_STEPS` steps for the progress bar
    and once at the end of the epoch, so steps queue up on the GPU without waiting for each
    other. The sum runs in float64 in step order, the same numbers as adding ``loss.item()``s.
    """
    config, ctx, model = run.config, run.ctx, run.model
    run.sampler.set_epoch(epoch)
    run.net.train()
    loss_sum = torch.zeros((), dtype=_accumulator_dtype(ctx.device), device=ctx.device)
    steps, clips, wait = 0, 0, 0.0
    bar = _progress_bar(run, epoch) if progress and ctx.is_main else None
    logged_sum, logged_steps = 0.0, 0
    t_epoch = time.perf_counter()
    t_prev = t_epoch
    for wave, labels in run.loader:
        wave = wave.to(ctx.device, non_blocking=True)  # (B, L)
        labels = labels.to(ctx.device, non_blocking=True)  # (B, K)
        wait += time.perf_counter() - t_prev
        with torch.autocast(ctx.device.type, enabled=run.use_amp):
            logits = run.net(wave)  # (B, K)
        loss = run.criterion(logits.float(), labels)  # () float32
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        if config.grad_clip > 0:
            run.scaler.unscale_(run.optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.scheduler.step()
        loss_sum += loss.detach()  # on the device, no sync
        steps += 1
        clips += int(wave.shape[0])
        if bar is not None:
            bar.update(1)
            if steps % LOSS_LOG_STEPS == 0:
                total = float(loss_sum)  # syncs the device
                window = (total - logged_sum) / (steps - logged_steps)
                bar.set_postfix(loss=f"{window:.4f}")
                logged_sum, logged_steps = total, steps
        t_prev = time.perf_counter()
    loss_total = float(loss_sum)  # syncs the device: the step time below is real
    step_seconds = max(time.perf_counter() - t_epoch, 1e-9)
    if bar is not None:
        bar.close()
    if not math.isfinite(loss_total):
        raise FloatingPointError(f"{config.model}: the training loss diverged (epoch {epoch + 1})")
    totals = torch.tensor([loss_total, steps, clips], dtype=torch.float64)
    if ctx.distributed:
        dist.all_reduce(totals)
    return EpochStats(
        train_loss=float(totals[0] / max(totals[1], 1)),
        clips_per_s=float(totals[2]) / step_seconds,
        step_seconds=step_seconds,
        data_wait_s=wait,
        started=t_epoch,
    )


def _accumulator_dtype(device: torch.device) -> torch.dtype:
    """float64 for the loss sum, except on Apple's MPS, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _progress_bar(run: Setup, epoch: int) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=len(run.loader),
        desc=f"{run.config.model} epoch {epoch + 1}/{run.config.epochs}",
        leave=False,
        dynamic_ncols=True,
    )


def end_epoch(
    run: Setup, state: RunState, epoch: int, stats: EpochStats
) -> tuple[bool, dict[str, Any]]:
    """Rank 0 after an epoch: validate, log, keep the best, decide to stop, checkpoint.

    Returns ``(stop, log_row)``."""
    config = run.config
    val_loss, res = validate(run)
    metric = val_loss if config.select_metric == "loss" else res["macro"][config.select_metric]
    epoch_seconds = time.perf_counter() - stats.started
    state.train_seconds += epoch_seconds
    row = {
        "epoch": epoch + 1,
        "train_loss": stats.train_loss,
        "val_loss": val_loss,
        "val_accuracy": res["micro"]["accuracy"],
        "val_roc_auc": res["macro"]["roc_auc"],
        "val_pr_auc": res["macro"]["pr_auc"],
        "lr": run.optimizer.param_groups[0]["lr"],
        "seconds": round(epoch_seconds, 3),
        "clips_per_s": round(stats.clips_per_s, 2),
        "data_wait_share": round(stats.data_wait_s / stats.step_seconds, 4),
    }
    state.history.append(row)
    state.epoch = epoch + 1
    improved = update_best(state, metric, config.select_metric)
    stop = state.epoch >= config.epochs or (
        config.patience > 0 and state.bad_epochs >= config.patience
    )
    save_epoch(run, state, metric, improved, finished=stop)
    log.info(
        "%s epoch %d/%d: train_loss %.4f val_loss %.4f val_roc_auc %s val_pr_auc %s "
        "(%.1f s, %.1f clips/s, data wait %.0f%%)%s",
        config.model,
        epoch + 1,
        config.epochs,
        stats.train_loss,
        val_loss,
        _f(row["val_roc_auc"]),
        _f(row["val_pr_auc"]),
        epoch_seconds,
        stats.clips_per_s,
        100 * row["data_wait_share"],
        " *" if improved else "",
    )
    return stop, row


def validate(run: Setup) -> tuple[float, dict[str, Any]]:
    """Clip-level validation (mean sigmoid over ``eval_chunks`` chunks): loss and metrics."""
    from training.evaluate import evaluate, predict_chunks

    config = run.config
    y_true, y_prob, val_loss = predict_chunks(
        run.model, run.valid_ds, run.ctx.device, config.eval_batch_size, 0, run.use_amp
    )
    return val_loss, evaluate(y_true, y_prob, run.tags)


def update_best(state: RunState, metric: float | None, select: str) -> bool:
    """Keep the best epoch (the first epoch always counts); count epochs without improvement."""
    improved = _improved(metric, state.best_metric, select) or state.best_epoch == 0
    if improved:
        state.best_metric, state.best_epoch, state.bad_epochs = metric, state.epoch, 0
    else:
        state.bad_epochs += 1
    return improved


def save_epoch(
    run: Setup, state: RunState, metric: float | None, improved: bool, finished: bool
) -> None:
    """Write ``best.pt`` (if improved), ``last.pt`` and ``log.csv`` atomically."""
    ckpt = checkpoint(run, state, metric, finished)
    if improved:
        save_checkpoint(ckpt, run.best_path)
    save_checkpoint(ckpt, run.last_path)
    write_log(state.history, run.run_dir / "log.csv")


def checkpoint(run: Setup, state: RunState, metric: float | None, finished: bool) -> dict[str, Any]:
    """The self-describing checkpoint (docs/ARCHITECTURE.md "Checkpoints")."""
    config, ctx = run.config, run.ctx
    return {
        "model_name": config.model,
        "model_config": run.model_config,
        "tags": run.tags,
        "sample_rate": SAMPLE_RATE,
        "chunk_samples": config.chunk_samples,
        "config": config.to_dict(),
        "epoch": state.epoch,
        "metric_name": config.select_metric,
        "metric": metric,
        "best_metric": state.best_metric,
        "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs,
        "finished": finished,
        "history": state.history,
        "train_seconds": state.train_seconds,
        "parameters": run.n_params,
        "dataset": run.dataset_info,
        "world_size": ctx.world_size,
        "device": str(ctx.device),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "state_dict": _cpu_state_dict(run.model),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict(),
        "rng_state": rng_state(),
    }


def _share_decision(
    ctx: DistContext, stop: bool, row: dict[str, Any]
) -> tuple[bool, dict[str, Any]]:
    """Rank 0's stop flag and log row, on every rank."""
    if ctx.distributed:
        flag = [stop, row]
        dist.broadcast_object_list(flag, src=0)
        stop, row = bool(flag[0]), flag[1]
    return stop, row


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="architecture name (training.models)")
    parser.add_argument("--mtat-root", type=Path, default=None, help="MTAT root (for prepare)")
    parser.add_argument("--cache", required=True, type=Path, help="prepared cache directory")
    parser.add_argument("--out", required=True, type=Path, help="runs go to OUT/<model>/")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int, help="per process")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--chunk-samples", type=int)
    parser.add_argument("--width", type=float, help="channel multiplier of the model")
    parser.add_argument(
        "--model-config",
        type=json.loads,
        default=None,
        help='extra model options as JSON, e.g. \'{"frontend": "stft"}\'',
    )
    parser.add_argument("--seed", type=int)
    parser.add_argument("--patience", type=int, help="epochs without improvement (0: off)")
    parser.add_argument("--select-metric", choices=("roc_auc", "pr_auc", "loss"))
    parser.add_argument("--eval-chunks", type=int)
    parser.add_argument("--workers", type=int, dest="num_workers", help="DataLoader workers")
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:1 ...")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (0: one per core)")
    parser.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    parser.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="continue OUT/<model>/last.pt if present (default on)",
    )
    parser.add_argument("--prepare-workers", type=int, default=2)
    parser.add_argument("--no-progress", action="store_true")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    config = profile(
        args.profile,
        args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        chunk_samples=args.chunk_samples,
        width=args.width,
        seed=args.seed,
        patience=args.patience,
        select_metric=args.select_metric,
        eval_chunks=args.eval_chunks,
        num_workers=args.num_workers,
        device=args.device,
        threads=args.threads,
        amp=False if args.no_amp else None,
    )
    if args.model_config:
        config = config.replace(model_config={**config.model_config, **args.model_config})
    return config


def run(args: argparse.Namespace) -> int:
    from training.models import MODELS

    if args.model not in MODELS:
        raise SystemExit(f"unknown model {args.model!r}; choose from {', '.join(MODELS)}")
    config = config_from_args(args)
    best = train(
        config,
        args.cache,
        args.out,
        mtat_root=args.mtat_root,
        resume=args.resume,
        progress=not args.no_progress,
        prepare_workers=args.prepare_workers,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        print(best)
    return 0
