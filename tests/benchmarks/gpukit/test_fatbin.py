"""Keeping one architecture in fat binaries: built ELF files, and the real onnxruntime-gpu
CUDA provider this venv installs."""

from __future__ import annotations

import importlib.util
import struct
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.gpukit.fatbin import FATBIN_MAGIC, FatbinError, keep_arch, section, walk

ELF, PTX = 2, 1


def fatbin(*images: tuple[int, int, bytes]) -> bytes:
    """One fat binary of ``(kind, arch, payload)`` images, 64-byte entry headers."""
    body = b""
    for kind, arch, payload in images:
        padded = payload + bytes(-len(payload) % 8)
        entry = bytearray(64)
        struct.pack_into("<HHII", entry, 0, kind, 0x0101, 64, len(padded))
        struct.pack_into("<I", entry, 16, len(payload))
        struct.pack_into("<I", entry, 28, arch)
        body += bytes(entry) + padded
    return struct.pack("<IHHQ", FATBIN_MAGIC, 1, 16, len(body)) + body


def elf(sections: dict[str, bytes]) -> bytes:
    """A little-endian ELF64 file holding ``sections`` (and its section-name table)."""
    names = b"\0" + b"".join(n.encode() + b"\0" for n in [*sections, ".shstrtab"])
    blobs = [b"", *sections.values(), names]  # section 0 is the null section
    data, offsets = bytearray(64), []
    for blob in blobs:
        data += bytes(-len(data) % 8)
        offsets.append(len(data))
        data += blob
    data += bytes(-len(data) % 8)
    shoff, name_at = len(data), 1
    for i, blob in enumerate(blobs):
        header = bytearray(64)
        if i:
            label = [*sections, ".shstrtab"][i - 1]
            struct.pack_into("<I", header, 0, name_at)
            name_at += len(label) + 1
            struct.pack_into("<QQ", header, 0x18, offsets[i], len(blob))
        data += header
    data[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", data, 0x28, shoff)
    struct.pack_into("<HHH", data, 0x3A, 64, len(blobs), len(blobs) - 1)
    return bytes(data)


def payload(tag: int, n: int = 40) -> bytes:
    return bytes([tag]) * n


def test_other_architectures_are_zeroed_only_beside_the_kept_one() -> None:
    mixed = fatbin((ELF, 80, payload(1)), (ELF, 90, payload(2, 45)), (ELF, 120, payload(3)))
    only_120 = fatbin((ELF, 120, payload(4)))
    ptx_90 = fatbin((PTX, 90, payload(5)), (ELF, 80, payload(6)))  # no cubin for sm_90
    blob = mixed + only_120 + bytes(16) + ptx_90  # zero padding between fat binaries
    data = bytearray(elf({".text": b"code" * 10, ".nv_fatbin": blob, ".rodata": b"ro" * 9}))
    before = bytes(data)

    kept = keep_arch(data, 90)

    assert (kept.fatbins, kept.images, kept.zeroed_images, kept.whole_fatbins) == (3, 6, 2, 2)
    assert kept.zeroed_bytes == 2 * 40
    images = list(walk(data, *section(data)))
    zeroed = {(i.arch, bytes(data[i.start : i.start + i.size])) for i in images if i.fatbin == 0}
    assert zeroed == {(80, bytes(40)), (90, payload(2, 45) + bytes(3)), (120, bytes(40))}
    expected = bytearray(before)
    for image in images[:3]:
        if image.arch != 90:
            expected[image.start : image.start + image.size] = bytes(image.size)
    assert data == expected  # nothing else moved or changed


def test_a_fat_binary_that_runs_past_its_section_or_junk_between_them_fails() -> None:
    good = fatbin((ELF, 90, payload(1)))
    junk = bytearray(elf({".nv_fatbin": good + b"\x01" + bytes(7) + good}))
    with pytest.raises(FatbinError, match="no fat binary header"):
        list(walk(junk, *section(junk)))
    short = bytearray(elf({".nv_fatbin": good[:-8]}))
    with pytest.raises(FatbinError, match="runs past the section"):
        list(walk(short, *section(short)))
    lying = bytearray(good)
    struct.pack_into("<I", lying, 16 + 8, 4096)  # an entry longer than its fat binary
    bad = bytearray(elf({".nv_fatbin": bytes(lying)}))
    with pytest.raises(FatbinError, match="does not fit"):
        list(walk(bad, *section(bad)))


def test_section_says_what_is_missing() -> None:
    with pytest.raises(FatbinError, match="not a little-endian ELF64"):
        section(b"MZ" + bytes(100))
    with pytest.raises(FatbinError, match="no .nv_fatbin section"):
        section(elf({".text": b"x"}))


def cuda_provider() -> Path:
    spec = importlib.util.find_spec("onnxruntime")
    assert spec is not None and spec.submodule_search_locations
    return Path(spec.submodule_search_locations[0]) / "capi" / "libonnxruntime_providers_cuda.so"


def test_the_real_cuda_provider_keeps_its_sm90_code_byte_for_byte() -> None:
    """onnxruntime-gpu 1.31.1's provider: six architectures; after keep_arch(90) every sm_90
    image and every byte outside the zeroed payloads are as they were."""
    path = cuda_provider()
    original = path.read_bytes()
    data = bytearray(original)
    kept = keep_arch(data, 90)

    images = list(walk(data, *section(data)))
    assert Counter(i.kind for i in images) == {ELF: len(images)}
    assert {i.arch for i in images} >= {80, 90}
    assert kept.images == len(images) and kept.zeroed_images > 0
    assert len(data) == len(original)
    expected = bytearray(original)
    by_fatbin: dict[int, set[int]] = {}
    for image in images:
        by_fatbin.setdefault(image.fatbin, set()).add(image.arch)
    for image in images:
        if image.arch != 90 and 90 in by_fatbin[image.fatbin]:
            expected[image.start : image.start + image.size] = bytes(image.size)
    assert data == expected
    assert kept.whole_fatbins == sum(90 not in archs for archs in by_fatbin.values())
