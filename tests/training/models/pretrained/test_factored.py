"""FactoredMelPower (Cooley-Tukey split of the 512-point DFT) gives MelPower's spectrogram, and
the four ports are built with it."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from training.export import export_onnx
from training.models.pretrained import pons, won
from training.models.pretrained.factored import FactoredMelPower
from training.models.pretrained.frontends import MelPower, reflect_center


def _random_bank(bins: int, mels: int, seed: int) -> torch.Tensor:
    return torch.rand(bins, mels, generator=torch.Generator().manual_seed(seed))


def _close(got: torch.Tensor, want: torch.Tensor) -> bool:
    """Equal up to float32 rounding of sums of 512 terms, relative to the largest power."""
    return torch.allclose(got, want, rtol=0, atol=5e-6 * float(want.abs().max()))


@pytest.mark.parametrize("samples", [48_128, 48_000 + 512, 48_000 + 512 + 37, 3_000])
@pytest.mark.parametrize("phases", [16, 32, 8])
def test_equals_melpower(samples: int, phases: int) -> None:
    window = torch.hann_window(512, periodic=True)
    mel = MelPower(pons.slaney_mel_fb(), window, 256)
    factored = FactoredMelPower(pons.slaney_mel_fb(), window, 256, phases=phases)
    wave = 0.3 * torch.randn(3, samples, generator=torch.Generator().manual_seed(samples))
    want, got = mel(wave), factored(wave)
    assert got.shape == want.shape == (3, 96, 1 + (samples - 512) // 256)
    assert _close(got, want)


def test_any_window_and_bank_and_the_method_on_melpower() -> None:
    g = torch.Generator().manual_seed(7)
    window, bank = torch.rand(512, generator=g), _random_bank(257, 40, seed=8)
    mel = MelPower(bank, window, 256)
    wave = torch.randn(2, 16_000, generator=g)
    assert _close(mel.factored()(wave), mel(wave))


def test_a_wrong_twiddle_is_caught() -> None:
    """The tolerance is far tighter than any real error: one twiddle factor off by 1e-3."""
    mel = MelPower(pons.slaney_mel_fb(), torch.hann_window(512, periodic=True), 256)
    factored = mel.factored()
    factored.twiddle[5, 2, 3] += 1e-3
    wave = torch.randn(2, 48_128, generator=torch.Generator().manual_seed(9))
    assert not _close(factored(wave), mel(wave))


def test_rejects_sizes_the_split_does_not_divide() -> None:
    bank = _random_bank(257, 8, seed=1)
    with pytest.raises(ValueError, match="multiples of 16 phases"):
        FactoredMelPower(bank, torch.ones(512), 200)
    with pytest.raises(ValueError, match=r"mel_fb must be \(257, n_mels\)"):
        FactoredMelPower(_random_bank(256, 8, seed=1), torch.ones(512), 256)


def test_exports_to_onnx_without_the_big_convolution(tmp_path) -> None:
    """The exported form: one grouped Conv of 32 taps instead of 514 kernels of 512, and the
    values of the torch module at batch 1 and 3 (onnxruntime)."""

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mel = MelPower(
                pons.slaney_mel_fb(), torch.hann_window(512, periodic=True), 256
            ).factored()

        def forward(self, wave: torch.Tensor) -> torch.Tensor:
            return torch.log10(self.mel(wave) + 1.0).flatten(1)

    model = Net().eval()
    path = export_onnx(model, 48_128, tmp_path / "f.onnx")
    graph = onnx.load(str(path)).graph
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert len(convs) == 1
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in convs[0].attribute}
    assert attrs["group"] == 16 and list(attrs["kernel_shape"]) == [32]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        x = 0.1 * torch.randn(batch, 48_128, generator=torch.Generator().manual_seed(batch))
        got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
        with torch.no_grad():
            want = torch.sigmoid(model(x)).numpy()  # export_onnx adds the sigmoid
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cls", [pons.PonsMusicnn, pons.PonsVGG])
def test_pons_frontend_factored_gives_the_same_power(cls) -> None:
    """The ports' own front-ends (Slaney mel bank, periodic Hann) with the split DFT."""
    model = cls().eval()
    wave = 0.2 * torch.randn(2, 48_128, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = model.frontend.mel(wave)
        model.frontend.mel = model.frontend.mel.factored()
        got = model.frontend.mel(wave)
    assert _close(got, want)


def test_won_frontend_factored_gives_the_same_power() -> None:
    window = torch.hann_window(512, periodic=True)
    bank = _random_bank(257, 96, seed=4)
    frontend = won.WonFrontend(window, bank).eval()
    wave = 0.2 * torch.randn(2, won.MUSICNN_SAMPLES, generator=torch.Generator().manual_seed(5))
    padded = reflect_center(wave, won.N_FFT)
    with torch.no_grad():
        want = frontend.mel(padded)
        got = frontend.mel.factored()(padded)
    assert _close(got, want)
