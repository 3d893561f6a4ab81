"""Extraction of the musicnn wheel's checkpoints (a fake wheel: the real one is 29 MB)."""

from __future__ import annotations

import zipfile

import pytest

from training.models.pretrained.wheel import (
    BUNDLE_FILES,
    CHECKPOINTS,
    LICENCE_MEMBER,
    RESULT_FILE,
    WheelFetchError,
    extract_checkpoints,
)


def fake_wheel(path, members) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for m in members:
            z.writestr(m, m.encode())


def test_extracts_both_bundles_their_results_and_the_licence(tmp_path) -> None:
    files = (*BUNDLE_FILES, RESULT_FILE)
    members = [f"musicnn/{n}/{f}" for n in CHECKPOINTS for f in files]
    fake_wheel(tmp_path / "w.whl", [*members, LICENCE_MEMBER, "musicnn/MSD_vgg/.index"])
    dest = extract_checkpoints(tmp_path / "w.whl", tmp_path / "out")
    assert (dest / "MTT_vgg" / ".index").read_bytes() == b"musicnn/MTT_vgg/.index"
    assert (dest / "MTT_musicnn" / RESULT_FILE).is_file()  # the published test-set figures
    assert (dest / "LICENSE.md").is_file()
    assert not (dest / "MSD_vgg").exists()


def test_a_wheel_without_the_checkpoints_is_refused(tmp_path) -> None:
    fake_wheel(tmp_path / "w.whl", [LICENCE_MEMBER])
    with pytest.raises(WheelFetchError, match="MTT_musicnn"):
        extract_checkpoints(tmp_path / "w.whl", tmp_path / "out")
