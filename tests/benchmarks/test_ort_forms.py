"""The benchmarks' alternative ONNX forms compute what the shipped graphs compute (front-end, timbral convolutions)."""

import json

import numpy as np
import pytest

from app.config import DEFAULT_MODELS_DIR
from benchmarks.frontend_stft import bench, frontends, session


@pytest.mark.parametrize("name", ["won_musicnn", "pons_vgg"])
def test_the_three_frontend_forms_compute_the_shipped_mel_power(name: str) -> None:
    forms = frontends(DEFAULT_MODELS_DIR / name / "model.onnx")
    ops = {form: [n.op_type for n in m.graph.node] for form, m in forms.items()}
    assert "STFT" in ops["stft"] and "Conv" not in ops["stft"]
    (conv,) = [n for n in forms["conv"].graph.node if n.op_type == "Conv"]
    assert conv.input[1] == "basis"  # 514 kernels of 512 taps, rebuilt from the graph
    (grouped,) = [n for n in forms["factored"].graph.node if n.op_type == "Conv"]
    assert {a.name: a.i for a in grouped.attribute}["group"] == 16  # the shipped, split DFT
    length = json.loads((DEFAULT_MODELS_DIR / name / "card.json").read_text())["chunk_samples"]
    x = (0.1 * np.random.default_rng(1).standard_normal((2, length))).astype(np.float32)
    ref = session(forms["conv"], None).run(None, {"waveform": x})[0]
    assert ref.shape[:2] == (2, 96)
    for form in ("factored", "stft"):
        alt = session(forms[form], None).run(None, {"waveform": x})[0]
        assert ref.shape == alt.shape
        assert np.max(np.abs(ref - alt)) <= 5e-6 * np.max(np.abs(ref)), form


def test_bench_reports_every_side() -> None:
    out = bench("won_musicnn", DEFAULT_MODELS_DIR, rounds=1, runs=2)
    assert min(out["conv_ms"], out["factored_ms"], out["stft_ms"]) > 0
    assert out["model_ms"] > out["factored_ms"]
    assert 0 < out["frontend_share"] < 1
    assert out["max_rel_diff"] < 5e-6 and out["factored_max_rel_diff"] < 5e-6


def test_timbral_conv_forms_compute_the_same() -> None:
    from benchmarks.timbral_conv import FILTERS, FRAMES, MELS, forms

    x = np.random.default_rng(3).standard_normal((1, 1, MELS, FRAMES)).astype(np.float32)
    outs = {k: s.run(None, {"X": x})[0].reshape(FILTERS, FRAMES) for k, s in forms(38).items()}
    assert set(outs) == {"conv", "transposed", "unfolded", "dft"}
    assert outs["conv"].min() >= 0  # ReLU, then the maximum over frequency
    for k in ("transposed", "unfolded", "dft"):
        np.testing.assert_allclose(outs[k], outs["conv"], atol=1e-5)


def test_onnx_ab_times_two_files_and_compares_their_answers(tmp_path) -> None:
    from benchmarks.onnx_ab import main

    path = DEFAULT_MODELS_DIR / "pons_vgg" / "model.onnx"
    out = main([str(path), str(path), "--chunks", "2", "--rounds", "2", "--threads", "1",
                "--json-out", str(tmp_path / "ab.json")])  # fmt: skip
    assert out["max_abs_diff"] == 0.0
    assert out["a"]["file"] == "models/pons_vgg/model.onnx"  # the repo path, not the machine's
    assert out["ms_per_chunk"]["a"] > 0 and out["ms_per_chunk"]["b"] > 0
    assert json.loads((tmp_path / "ab.json").read_text())["a_over_b"] == out["a_over_b"]


def test_missing_inputs_are_clear_errors(tmp_path, capsys) -> None:
    from benchmarks.frontend_stft import main as stft_main
    from benchmarks.onnx_ab import main as ab_main

    with pytest.raises(SystemExit):
        ab_main([str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx")])
    assert "no ONNX file at" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        stft_main(["--models", "nope"])
    assert "no model nope" in capsys.readouterr().err
