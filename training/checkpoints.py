"""Reading the self-describing training checkpoints (``best.pt``, ``last.pt``) back into a model.

The one loader used by ``evaluate``, ``benchmark``, ``export`` and the dataset study, so every
command refuses the same broken files with the same message. Writing is in
:func:`training.train.save_checkpoint`; the keys are listed in docs/ARCHITECTURE.md
"Checkpoints". torch is imported only when a checkpoint is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tagging.constants import SAMPLE_RATE

REQUIRED_KEYS = ("model_name", "model_config", "tags", "chunk_samples", "state_dict")
"""What a file needs to be rebuilt into a model that takes chunks of audio."""


class CheckpointError(ValueError):
    """A file that is not a usable training checkpoint; the message names the file and why."""


def strip_prefixes(state_dict: dict[str, Any]) -> dict[str, Any]:
    """Drop ``module.`` (DDP) and ``_orig_mod.`` (torch.compile) prefixes if every key has one."""
    for prefix in ("module.", "_orig_mod."):
        if state_dict and all(k.startswith(prefix) for k in state_dict):
            state_dict = {k[len(prefix) :]: v for k, v in state_dict.items()}
    return state_dict


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict of ``path`` after every check that needs no model.

    Raises :class:`FileNotFoundError` for a missing file and :class:`CheckpointError` for one
    torch cannot read, one that is not a dict with :data:`REQUIRED_KEYS`, a sample rate other
    than the models' 16 kHz, or a ``model_config["n_tags"]`` that disagrees with ``tags``.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        # Our own training output (it holds numpy RNG state etc.), hence weights_only=False.
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # pickle, zip and torch errors alike: the file is not readable
        raise CheckpointError(f"{path}: cannot read it as a checkpoint ({exc})") from exc
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} is not a training checkpoint: it holds a {type(ckpt)}")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path} is not a training checkpoint: it lacks {missing}")
    sr = int(ckpt.get("sample_rate", SAMPLE_RATE))
    if sr != SAMPLE_RATE:
        raise CheckpointError(f"{path}: sample_rate {sr}, the models take {SAMPLE_RATE}")
    n_tags = int(ckpt["model_config"].get("n_tags", len(ckpt["tags"])))
    if n_tags != len(ckpt["tags"]):
        raise CheckpointError(f"{path}: n_tags {n_tags} but {len(ckpt['tags'])} tags")
    return ckpt


def load_checkpoint_model(path: str | Path, device: Any = "cpu") -> tuple[Any, dict[str, Any]]:
    """Rebuild the model of a training checkpoint with its weights: ``(model in eval mode on
    device, checkpoint dict)``. Errors as :func:`read_checkpoint`, plus :class:`CheckpointError`
    for an unknown architecture or weights that do not fit it."""
    import torch

    from training.models import build_model

    ckpt = read_checkpoint(path)
    config = {k: v for k, v in ckpt["model_config"].items() if k != "n_tags"}
    try:
        model = build_model(ckpt["model_name"], n_tags=len(ckpt["tags"]), **config)
        model.load_state_dict(strip_prefixes(dict(ckpt["state_dict"])))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path}: cannot rebuild {ckpt['model_name']!r} from it ({exc})"
        ) from exc
    model.to(torch.device(device)).eval()
    return model, ckpt
