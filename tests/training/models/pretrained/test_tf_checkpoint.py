"""The numpy TF checkpoint reader against a tiny bundle written by tf.compat.v1.train.Saver."""

from __future__ import annotations

import numpy as np
import pytest

from tests.paths import DATA
from training.models.pretrained.tf_checkpoint import CheckpointError, read_checkpoint

TINY = DATA / "pretrained" / "tf_tiny"


def test_reads_every_variable_exactly() -> None:
    got = read_checkpoint(TINY / "model")
    expected = {k.replace("__", "/"): v for k, v in np.load(TINY / "expected.npz").items()}
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype, name
        assert got[name].shape == value.shape, name
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_rejects_a_file_that_is_not_a_bundle(tmp_path) -> None:
    (tmp_path / "x.index").write_bytes(b"\0" * 64)
    with pytest.raises(CheckpointError, match="magic"):
        read_checkpoint(tmp_path / "x")


def test_missing_data_shard_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "model.index").write_bytes((TINY / "model.index").read_bytes())
    with pytest.raises(CheckpointError, match="data shard"):
        read_checkpoint(tmp_path / "model")
