"""Parity of the committed ported models (``models/<name>/model.onnx``) with the originals.

References were recorded once with the original code (``tests/data/pretrained/README.md``):
the musicnn package's TensorFlow graph for ``pons_*``, Won et al.'s PyTorch modules for
``won_*``. Per-patch logits must agree to 1e-3 on the same 16 kHz waveform, and so must the
``embedding`` output with the original's penultimate features (relative to their largest
magnitude; ``scripts/record_penultimate.py`` recorded them); clip-level
probabilities, through the project's decoder and the port's clip rule, to 0.02 with the same
top-3. Perturbed copies of the graphs (a transposed/rotated conv kernel, the other mel scale)
must fail the same checks.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest

from tests.paths import DATA, REPO
from training.models.pretrained import PORTS, get_port, parity

REFERENCES = DATA / "pretrained"
NAMES = sorted(PORTS)
DEFAULT_CLIP = "mtat_joram"
"""Recording whose clip-level parity runs in the default suite (all of them under ``slow``)."""


def onnx_path(name: str):
    path = REPO / "models" / name / "model.onnx"
    assert path.is_file(), f"{path} is missing: run `python -m training import-pretrained`"
    return path


@cache
def reference(name: str) -> dict:
    return parity.load_reference(REFERENCES / f"{name}.json")


@cache
def runner(name: str) -> parity.Runner:
    return parity.onnx_runner(onnx_path(name))


@cache
def penultimate(name: str) -> dict:
    """The original's penultimate features on the reference patches
    (``scripts/record_penultimate.py``)."""
    return json.loads((REFERENCES / f"{name}_penultimate.json").read_text())


def test_references_cover_three_real_recordings_and_the_mtat_clip() -> None:
    for name in NAMES:
        ref = reference(name)
        assert ref["labels"] == list(get_port(name).tags)
        assert set(ref["recordings"]) == {"brahms", "vibe_ace", "trumpet", "mtat_joram"}


@pytest.mark.parametrize("name", NAMES)
def test_per_patch_logits_match_the_original(name: str) -> None:
    spec = get_port(name)
    result = parity.check(name, runner(name), spec.clip_rule, reference(name), REPO, clips=False)
    assert len(result.patch_max_abs) == 4
    assert result.ok, result.failures


@pytest.mark.parametrize("name", NAMES)
def test_embedding_is_the_originals_penultimate_layer(name: str) -> None:
    pen = penultimate(name)
    assert set(pen["recordings"]) == set(reference(name)["recordings"])
    assert pen["original"] == reference(name)["original"]
    embed = parity.embedding_runner(onnx_path(name))
    diffs = parity.embedding_diffs(embed, get_port(name).clip_rule, reference(name), pen)
    assert len(diffs) == 4
    assert max(diffs.values()) <= parity.EMBEDDING_TOLERANCE, diffs


@pytest.mark.parametrize("name", NAMES)
def test_clip_probabilities_match_the_original_tool(name: str) -> None:
    spec = get_port(name)
    result = parity.check(
        name, runner(name), spec.clip_rule, reference(name), REPO, only=[DEFAULT_CLIP]
    )
    assert set(result.clip_max_abs) == {DEFAULT_CLIP}
    assert result.ok, result.failures


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_clip_probabilities_match_on_every_recording(name: str) -> None:
    spec = get_port(name)
    result = parity.check(name, runner(name), spec.clip_rule, reference(name), REPO)
    assert len(result.clip_max_abs) == 4
    assert result.ok, result.failures


# ---------------------------------------------------------------------- broken ports must fail
def _tensors(model):
    """Every constant tensor of a graph: initializers and ``Constant`` node values."""
    yield from model.graph.initializer
    for node in model.graph.node:
        if node.op_type == "Constant":
            yield from (a.t for a in node.attribute if a.name == "value")


def _replace(tensor, array: np.ndarray) -> None:
    from onnx import numpy_helper

    tensor.CopyFrom(numpy_helper.from_array(array.astype(np.float32), tensor.name))


def break_first_kernel(model) -> None:
    """The first conv kernel after the front-end: a square 2D one transposed, any other flipped
    along its spatial axes (rotated by 180 degrees; a 1-D kernel, such as the time taps of
    :class:`~training.models.pretrained.vertical.VerticalMax`, reversed)."""
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Conv" or "/frontend/" in node.name:
            continue
        w = inits.get(node.input[1])
        if w is not None and len(w.dims) >= 3:
            k = numpy_helper.to_array(w)
            square = k.ndim == 4 and k.shape[2] == k.shape[3]
            _replace(w, k.swapaxes(2, 3) if square else np.flip(k, axis=tuple(range(2, k.ndim))))
            return
    raise AssertionError("no conv kernel after the front-end in the graph")


def break_mel_scale(model) -> None:
    """Swap the mel filterbank for the other scale (HTK without norm <-> Slaney with norm)."""
    import torchaudio.functional as AF
    from onnx import numpy_helper

    from training.models.pretrained.factored import column_bins

    def fb(scale: str) -> np.ndarray:
        norm = "slaney" if scale == "slaney" else None
        f_max = 8000.0
        return AF.melscale_fbanks(257, 0.0, f_max, 96, 16000, norm=norm, mel_scale=scale).T.numpy()

    for t in _tensors(model):
        if list(t.dims) in ([96, 257], [96, 32 * 9]):
            # columns: bins 0..256, or the factored front-end's order (bin k1 + 32 k2 at
            # column 9 k1 + k2, training.models.pretrained.factored)
            bins = np.arange(257) if t.dims[1] == 257 else column_bins(512).numpy()
            used = bins <= 256
            current = numpy_helper.to_array(t)[:, used]
            htk = np.abs(current - fb("htk")[:, bins[used]]).max() < 1e-3
            other = np.zeros((96, len(bins)), np.float32)
            other[:, used] = (fb("slaney") if htk else fb("htk"))[:, bins[used]]
            _replace(t, other)
            return
    raise AssertionError("no (96, 257) or (96, 288) mel filterbank in the graph")


@pytest.mark.parametrize("breakage", [break_first_kernel, break_mel_scale])
@pytest.mark.parametrize("name", NAMES)
def test_a_broken_port_fails_the_parity_check(name: str, breakage, tmp_path) -> None:
    import onnx

    model = onnx.load(str(onnx_path(name)))
    breakage(model)
    broken = tmp_path / "model.onnx"
    onnx.save(model, str(broken))
    spec = get_port(name)
    result = parity.check(
        name, parity.onnx_runner(broken), spec.clip_rule, reference(name), REPO, clips=False,
        only=[DEFAULT_CLIP],
    )  # fmt: skip
    assert not result.ok
    assert result.patch_max_abs[DEFAULT_CLIP] > 10 * parity.PATCH_TOLERANCE
    diffs = parity.embedding_diffs(
        parity.embedding_runner(broken), spec.clip_rule, reference(name), penultimate(name)
    )
    assert diffs[DEFAULT_CLIP] > 10 * parity.EMBEDDING_TOLERANCE
