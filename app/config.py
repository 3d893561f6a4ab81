"""Service settings (pydantic-settings): every knob is an environment variable ``TAGGER_<NAME>``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
"""The repository's embedded models (``<repo>/models``), independent of the working directory."""


class Settings(BaseSettings):
    """Configuration of one service instance; created in :func:`app.main.create_app`."""

    model_config = SettingsConfigDict(env_prefix="TAGGER_", extra="ignore", frozen=True)

    models_dir: Path = Field(
        DEFAULT_MODELS_DIR,
        description="Directory holding <name>/model.onnx + <name>/card.json per model.",
    )
    default_model: str = Field(
        "",
        description="Model loaded at start-up and used when a request names none; empty = the "
        "model with the best macro ROC-AUC in its card (ties broken by name).",
    )
    providers: Literal["auto", "cuda", "cpu"] = Field(
        "auto",
        description="auto = CUDA if it works, else CPU (with a warning); cuda = refuse to start "
        "without CUDA; cpu = CPU only.",
    )
    cuda_device_id: int = Field(0, ge=0, description="GPU index for the CUDA provider.")
    intra_op_threads: int = Field(
        0, ge=0, description="onnxruntime intra-op threads (0 = onnxruntime's default)."
    )
    max_upload_mb: float = Field(
        20.0, gt=0, description="Largest request body in MiB (413 past it, before reading all)."
    )
    max_duration_s: float = Field(
        600.0, gt=0, description="Longest audio accepted in seconds (413 past it)."
    )
    min_duration_s: float = Field(
        1.0,
        ge=0,
        description="Shortest audio accepted in seconds (400 below it); clips between this and "
        "one chunk are zero-padded to one chunk.",
    )
    chunk_hop_s: float = Field(
        0.0,
        ge=0,
        description="Hop between segments for segments=true in seconds (0 = the model's chunk "
        "length, i.e. non-overlapping segments).",
    )
    eval_chunks: int = Field(
        16, ge=1, description="Evenly spaced chunks averaged per clip (Won et al. 2020)."
    )
    max_batch: int = Field(16, ge=1, description="Chunks per onnxruntime run.")
    log_level: str = Field("INFO", description="Log level of the 'app' logger.")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
