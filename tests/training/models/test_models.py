"""The eight architectures: registry, shapes, sizes, front-ends and that they learn."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
import torchaudio

from training.models import MODELS, build_model, count_parameters
from training.models.frontend import LogSpectrogram

NAMES = [
    "cnn1d",
    "cnn1d_rnn",
    "cnn1d_lstm",
    "cnn1d_gru",
    "chunk_cnn1d",
    "cnn2d_rnn",
    "cnn2d_lstm",
    "cnn2d_gru",
]
DEFAULT_SAMPLES = 59_049


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # One intra-op thread: on the shared 2-core machine, two OpenMP threads competing with other
    # processes spin-wait and made these tiny steps 10-100x slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_registry_has_exactly_the_eight_names() -> None:
    assert list(MODELS) == NAMES


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown model 'resnet'") as info:
        build_model("resnet")
    for name in NAMES:
        assert name in str(info.value)


@pytest.mark.parametrize("name", ["cnn1d", "cnn2d_gru"])
def test_unknown_config_key_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="widht"):
        build_model(name, widht=0.5)


def test_bad_config_values_are_refused() -> None:
    with pytest.raises(ValueError, match="frontend"):
        build_model("cnn2d_lstm", frontend="cqt")
    with pytest.raises(ValueError, match="width"):
        build_model("cnn1d", width=0.0)
    with pytest.raises(ValueError, match="n_tags"):
        build_model("cnn1d", n_tags=0)
    with pytest.raises(ValueError, match="summary"):
        build_model("cnn1d_gru", summary="attention")


@pytest.mark.parametrize("name", NAMES)
def test_output_shapes_batch_1_and_4(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, n_tags=7, width=0.125).eval()
    with torch.no_grad():
        y1 = model(torch.randn(1, DEFAULT_SAMPLES))  # default training input, 3.69 s
        y4 = model(torch.randn(4, 16_000))  # 1 s
        y_odd = model(torch.randn(2, 16_000 + 1234))  # a length no model is built around
    assert y1.shape == (1, 7)
    assert y4.shape == (4, 7)
    assert y_odd.shape == (2, 7)
    assert torch.isfinite(y1).all() and torch.isfinite(y4).all() and torch.isfinite(y_odd).all()


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_in_literature_range(name: str) -> None:
    full = count_parameters(build_model(name))
    quick = count_parameters(build_model(name, width=0.25))
    assert 300_000 <= full <= 4_000_000, f"{name}: {full:,} parameters"
    assert quick < full / 8  # width scales channels (parameters ~ width^2)


def test_count_parameters_counts_trainable_parameters_only() -> None:
    model = build_model("cnn2d_gru", width=0.25)
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())
    model.head.fc.weight.requires_grad_(False)
    assert count_parameters(model) == sum(p.numel() for p in model.parameters()) - (
        model.head.fc.weight.numel()
    )
    # The fixed DFT kernels and mel filter bank are buffers, not parameters, and are rebuilt from
    # the config rather than stored in checkpoints.
    assert "spec.dft" not in model.state_dict() and "spec.mel_fb" not in model.state_dict()


def test_bad_input_shape_is_a_clear_error() -> None:
    model = build_model("cnn1d", width=0.25)
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        model(torch.randn(2, 1, 16_000))


@pytest.mark.parametrize("name", NAMES)
def test_a_few_optimizer_steps_reduce_bce(name: str) -> None:
    torch.manual_seed(1)
    model = build_model(name, n_tags=5, width=0.125, dropout=0.0).train()
    x = 0.3 * torch.randn(4, 8_000)  # 0.5 s: short inputs are padded to min_samples
    y = torch.tensor([[1, 0, 0, 1, 0], [0, 1, 0, 0, 1], [1, 1, 0, 0, 0], [0, 0, 1, 1, 0]]).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], f"{name}: {losses}"


def test_frontend_switch_mel_vs_stft() -> None:
    mel = build_model("cnn2d_gru", width=0.25)
    stft = build_model("cnn2d_gru", width=0.25, frontend="stft")
    assert mel.spec.kind == "mel" and mel.spec.n_bins == 96
    assert stft.spec.kind == "stft" and stft.spec.n_bins == 257
    x = torch.randn(2, 16_000)
    assert mel.spec(x).shape == (2, 96, 1 + (16_000 - 512) // 256)
    assert stft.spec(x).shape == (2, 257, 1 + (16_000 - 512) // 256)
    with torch.no_grad():
        assert stft.eval()(x).shape == (2, 10)
    # Same CNN and RNN (the frequency axis is max-pooled to 1), so the same parameter count.
    assert count_parameters(mel) == count_parameters(stft)


def _tone_and_noise(n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    t = torch.arange(n) / 16_000
    return (0.5 * torch.sin(2 * torch.pi * 440 * t) + 0.05 * torch.randn(n, generator=g))[None]


def test_conv_stft_matches_torch_stft() -> None:
    x = _tone_and_noise(16_000)
    ours = LogSpectrogram("stft", eps=1e-6)(x).exp() - 1e-6  # (1, 257, T) power
    ref = (
        torch.stft(
            x, 512, 256, window=torch.hann_window(512), center=False, return_complex=True
        ).abs()
        ** 2
    )
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=1e-3, atol=1e-3 * float(ref.max()))


def test_mel_frontend_matches_torchaudio_melspectrogram() -> None:
    x = _tone_and_noise(16_000)
    ours = LogSpectrogram("mel", n_mels=96)(x)
    ref = torchaudio.transforms.MelSpectrogram(
        sample_rate=16_000, n_fft=512, hop_length=256, n_mels=96, center=False, power=2.0
    )(x)
    torch.testing.assert_close(ours, torch.log(ref + 1e-6), rtol=1e-3, atol=1e-2)
