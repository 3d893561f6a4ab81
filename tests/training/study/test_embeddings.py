"""Model embeddings: the forward hook averages the final Linear's input over chunks."""

from __future__ import annotations

import numpy as np
import pytest

from training.study.embeddings import final_linear, model_embeddings


def test_model_embeddings_hook_averages_penultimate_features() -> None:
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(50, 8)
            self.head = nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S) -> (B, 3)
            h = x.reshape(x.shape[0], -1, 50).abs().mean(1)  # (B, 50)
            return self.head(torch.relu(self.body(h)))

    torch.manual_seed(0)
    model = Tiny()
    rng = np.random.default_rng(0)
    waves = [
        rng.standard_normal(1000).astype(np.float32),
        rng.standard_normal(700).astype(np.float32),
    ]
    emb = model_embeddings(model, waves, chunk_samples=500, n_tags=3, n_chunks=4, device="cpu")
    assert emb.shape == (2, 8)
    from tagging.audio import chunk_starts, take_chunks

    chunks = take_chunks(waves[0], chunk_starts(1000, 500, 4), 500)
    with torch.no_grad():
        h = torch.from_numpy(chunks).reshape(4, -1, 50).abs().mean(1)
        ref = torch.relu(model.body(h)).mean(0).numpy()
    np.testing.assert_allclose(emb[0], ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="5 outputs"):
        final_linear(model, 5)
