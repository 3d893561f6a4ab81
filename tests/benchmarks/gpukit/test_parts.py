"""The kit's archive cut into parts and put back together: real xz, real tar, real files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from benchmarks.gpukit import parts
from benchmarks.gpukit.parts import KitError, Manifest, MissingParts


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    site, forms = tmp_path / "src" / "site", tmp_path / "src" / "forms"
    (site / "pkg").mkdir(parents=True)
    forms.mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (site / "pkg" / "lib.so").write_bytes(os.urandom(40_000))  # does not compress
    (forms / "m_direct.onnx").write_bytes(os.urandom(9_000))
    return {"site": site, "gpu_forms": forms}


def build(sources: dict[str, Path], tmp_path: Path, part_bytes: int = 10_000) -> Manifest:
    archive = tmp_path / "kit.tar.xz"
    parts.compress(sources, archive)
    return parts.split(archive, tmp_path / "kit", part_bytes, {"arch": 90})


def same_tree(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files
    return files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and all(
        (a / f).read_bytes() == (b / f).read_bytes() for f in files
    )


def test_parts_fit_their_size_and_put_back_together(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    manifest = build(sources, tmp_path)
    kit = tmp_path / "kit"
    assert len(manifest.parts) >= 5 and all(p.bytes <= 10_000 for p in manifest.parts)
    for part in manifest.parts:  # every folder travels with the whole kit's manifest
        assert Manifest.read(kit / str(part.index) / parts.MANIFEST) == manifest
    assert manifest.info == {"arch": 90}

    dest = tmp_path / "out"
    assert parts.unpack(kit, dest) == manifest
    assert same_tree(sources["site"], dest / "site")
    assert same_tree(sources["gpu_forms"], dest / "gpu_forms")


def test_a_second_unpack_of_the_same_kit_does_nothing(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    build(sources, tmp_path)
    dest = tmp_path / "out"
    parts.unpack(tmp_path / "kit", dest)
    (dest / "site" / "pkg" / "__init__.py").write_text("VALUE = 2\n")
    parts.unpack(tmp_path / "kit", dest)
    assert (dest / "site" / "pkg" / "__init__.py").read_text() == "VALUE = 2\n"


def test_missing_parts_are_named(sources: dict[str, Path], tmp_path: Path) -> None:
    manifest = build(sources, tmp_path)
    kit = tmp_path / "kit"
    (kit / "2" / parts.PART).unlink()
    shutil.rmtree(kit / "4")
    with pytest.raises(MissingParts) as caught:
        parts.unpack(kit, tmp_path / "out")
    assert caught.value.missing == [2, 4]
    total = len(manifest.parts)
    assert str(caught.value) == f"{total - 2} of {total} parts here; still to send: 2, 4"
    assert not (tmp_path / "out").exists()


def test_a_damaged_part_is_refused_before_anything_is_extracted(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    build(sources, tmp_path)
    part = tmp_path / "kit" / "3" / parts.PART
    damaged = bytearray(part.read_bytes())
    damaged[100] ^= 0xFF
    part.write_bytes(damaged)
    with pytest.raises(KitError, match="part 3 is not the one the manifest names"):
        parts.unpack(tmp_path / "kit", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_parts_of_two_kits_are_not_mixed(sources: dict[str, Path], tmp_path: Path) -> None:
    build(sources, tmp_path)
    (sources["site"] / "pkg" / "__init__.py").write_text("VALUE = 3\n")
    other = tmp_path / "other"
    other.mkdir()
    build(sources, other)
    shutil.rmtree(tmp_path / "kit" / "2")
    shutil.copytree(other / "kit" / "2", tmp_path / "kit" / "2")
    with pytest.raises(KitError, match="parts of different kits"):
        parts.unpack(tmp_path / "kit", tmp_path / "out")
    with pytest.raises(KitError, match="no kit at"):
        parts.unpack(tmp_path / "nothing", tmp_path / "out")


def test_compress_without_the_xz_program(
    sources: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parts.shutil, "which", lambda name: None)  # lzma in process
    build(sources, tmp_path, part_bytes=1 << 20)
    parts.unpack(tmp_path / "kit", tmp_path / "out")
    assert same_tree(sources["site"], tmp_path / "out" / "site")


def test_no_room_for_a_part(sources: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(KitError, match="no room for a part"):
        build(sources, tmp_path, part_bytes=0)
