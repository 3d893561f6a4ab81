"""The one learning setup shared by all eight architectures (``TrainConfig`` + profiles).

Every model is trained with the same loss (``BCEWithLogitsLoss``), optimizer, schedule, batch
size, input length, seed and early stopping, so that a comparison measures the architectures and
not their tuning (the protocol of Won et al. 2020, "Evaluation of CNN-based automatic music
tagging models", SMC 2020, which retrains every model under one pipeline on the MTAT
folder split).

Two profiles:

* ``full`` - what a GPU user runs on the real MTAT. Settings follow the literature: 59049-sample
  inputs (3.69 s at 16 kHz; the sample-level input of Lee et al. 2017, "Sample-level deep
  convolutional neural networks for music auto-tagging using raw waveforms", also the
  short-chunk input of Won et al. 2020), batch size 16 and 16 evenly spaced chunks per clip at
  evaluation (Won et al. 2020), model selection on validation ROC-AUC with early stopping.
  Won et al. train with Adam (lr 1e-4) and switch to SGD with hand-placed learning-rate drops;
  we keep one optimizer for every model instead - AdamW (Loshchilov & Hutter 2019, "Decoupled
  weight decay regularization") with weight decay 1e-4 (Won et al.'s value), lr 1e-3 (the Adam
  rate of Pons & Serra 2019, musicnn) and a cosine decay (Loshchilov & Hutter 2017, SGDR) after a
  one-epoch linear warm-up, which needs no per-model drop points.
* ``quick`` - all eight on a small synthetic MTAT on a 2-core CPU (CI, demo): width 0.25,
  2-s inputs (32000 samples), 10 epochs at a higher lr (3e-3, short warm-up), patience 4, the
  literature's 16 evaluation chunks, no DataLoader workers (memory-mapped crops keep the data
  wait at 1-5 %) and two intra-op threads whatever the machine's core count (CPU kernels split
  their float sums by thread, so the bits of a seeded run follow the thread count). 1-s inputs
  with 4 evaluation chunks were tried first: the recurrent models then stayed at 0.68-0.80
  macro ROC-AUC on the synthetic test split (too little context).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from tagging.constants import EVAL_CHUNKS

SELECT_METRICS = ("roc_auc", "pr_auc", "loss")
"""Validation metrics that can choose the kept checkpoint (``loss`` is minimised)."""

SCHEDULES = ("cosine", "constant")
OPTIMIZERS = ("adamw",)


@dataclass
class TrainConfig:
    """Everything that defines one training run; stored in every checkpoint (``asdict``).

    ``batch_size`` is per process (under ``torchrun`` the global batch is ``batch_size *
    WORLD_SIZE``). ``patience`` is the number of epochs without improvement of
    ``select_metric`` on validation before stopping (0 disables early stopping). ``amp`` is
    used on CUDA only. ``device`` is ``auto`` (CUDA when available), ``cpu``, ``cuda``...;
    under ``torchrun`` on CUDA each process takes ``cuda:LOCAL_RANK``.
    """

    model: str = "cnn1d"
    model_config: dict[str, Any] = field(default_factory=lambda: {"width": 1.0})
    chunk_samples: int = 59049
    batch_size: int = 16
    epochs: int = 100
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    seed: int = 0
    patience: int = 10
    select_metric: str = "roc_auc"
    eval_chunks: int = EVAL_CHUNKS
    eval_batch_size: int = 16
    num_workers: int = 4
    amp: bool = True
    device: str = "auto"
    grad_clip: float = 0.0
    threads: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` with a clear message for impossible settings."""
        if self.select_metric not in SELECT_METRICS:
            raise ValueError(
                f"select_metric must be one of {SELECT_METRICS}, got {self.select_metric!r}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        for name in ("chunk_samples", "batch_size", "epochs", "eval_chunks", "eval_batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0 or self.patience < 0 or self.num_workers < 0:
            raise ValueError("lr must be > 0 and weight_decay, patience, num_workers >= 0")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0 (0: torch's default), got {self.threads}")
        if not isinstance(self.model_config, dict):
            raise ValueError("model_config must be a dict")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (typos must not pass silently)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {unknown}")
        return cls(**{k: (dict(v) if k == "model_config" else v) for k, v in data.items()})

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (``None`` values are ignored)."""
        data = self.to_dict()
        for key, value in changes.items():
            if value is None:
                continue
            if key == "width":
                data["model_config"] = {**data["model_config"], "width": float(value)}
            elif key in data:
                data[key] = value
            else:
                raise ValueError(f"unknown TrainConfig field: {key}")
        return TrainConfig.from_dict(data)

    def run_identity(self) -> dict[str, Any]:
        """The fields that change results (not ``num_workers``/``device``/``eval_batch_size``):
        a run resumes or is reused only when these match."""
        data = self.to_dict()
        for key in ("num_workers", "device", "eval_batch_size"):
            data.pop(key)
        return data


PROFILES: dict[str, dict[str, Any]] = {
    "full": {},
    "quick": {
        "model_config": {"width": 0.25},
        "chunk_samples": 32000,
        "batch_size": 16,
        "epochs": 10,
        "lr": 3e-3,
        "warmup_epochs": 0.5,
        "patience": 4,
        "eval_chunks": 16,
        "eval_batch_size": 16,
        "num_workers": 0,
        "threads": 2,
    },
}
"""Overrides of the dataclass defaults (the defaults are the ``full`` profile)."""


def profile(name: str, model: str = "cnn1d", **overrides: Any) -> TrainConfig:
    """The ``TrainConfig`` of profile ``name`` (``full`` or ``quick``) for ``model``."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose from {sorted(PROFILES)}")
    base = {**PROFILES[name], "model": model}
    base["model_config"] = dict(base.get("model_config", {"width": 1.0}))
    return TrainConfig(**base).replace(**overrides)
