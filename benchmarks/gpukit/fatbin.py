"""Keep one GPU architecture's code in a CUDA library's fat binaries, at the same size.

onnxruntime-gpu's ``libonnxruntime_providers_cuda.so`` is 284 MB, 218 MB of which is its
``.nv_fatbin`` section: each kernel compiled for sm_75, 80, 86, 89, 90 and 120, zstd-compressed.
A GPU of compute capability 9.0 (H100, H200) only ever loads the sm_90 images: the CUDA driver
takes the exact SASS (cubin) match from each fat binary. :func:`keep_arch` zeroes the payloads
of the other architectures' images where a fat binary also holds a cubin of the kept one, and
leaves every header, every offset and all other bytes as they were, so the library loads as
before on that GPU and the zeros compress away (xz: 185 MB -> 52 MB for onnxruntime-gpu 1.31.1).
A fat binary without a cubin of the kept architecture is left whole.

The layout read here (little-endian) is the one described, from cuobjdump, by
n-eiling/cuda-fatbin-decompression (``fatbin-decompress.h``) and GrigoryEvko/nvopen-tools
(``fatbin/FORMAT_SPECIFICATION.md``):

- fat binary header, 16 bytes: ``u32 magic 0xBA55ED50, u16 version, u16 header size,
  u64 size of the entries that follow``;
- each entry: ``u16 kind (1 PTX, 2 or 0x10 cubin), u16, u32 entry header size,
  u32 payload size padded to 8``, ..., ``u32 architecture`` (e.g. 90) at byte 28; the payload
  follows the entry header.

:func:`walk` checks that the entries it reads tile every fat binary exactly, and that only zero
padding lies between fat binaries, and fails loudly otherwise.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FATBIN_MAGIC = 0xBA55ED50
SECTION = ".nv_fatbin"
CUBIN_KINDS = (2, 0x10)


class FatbinError(ValueError):
    """The file is not the ELF / fat binary layout this module reads."""


@dataclass(frozen=True)
class Image:
    """One entry of a fat binary: its architecture and where its payload lies in the file."""

    fatbin: int  # index of the fat binary in the section
    kind: int  # 1 PTX, 2 ELF (cubin)
    arch: int  # e.g. 90 for sm_90
    start: int  # payload offset in the file
    size: int  # payload bytes


@dataclass(frozen=True)
class Kept:
    """What :func:`keep_arch` did."""

    fatbins: int
    images: int
    zeroed_images: int
    zeroed_bytes: int
    whole_fatbins: int  # fat binaries without the kept architecture, left as they were


def section(data: bytes | bytearray, name: str = SECTION) -> tuple[int, int]:
    """``(offset, size)`` in the file of the ELF64 section ``name``."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise FatbinError("not a little-endian ELF64 file")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def header(i: int) -> tuple[int, int, int]:
        base = shoff + i * shentsize
        name_off = struct.unpack_from("<I", data, base)[0]
        offset, size = struct.unpack_from("<QQ", data, base + 0x18)
        return name_off, offset, size

    strtab = header(shstrndx)[1]
    wanted = name.encode()
    for i in range(shnum):
        name_off, offset, size = header(i)
        start = strtab + name_off
        if data[start : start + len(wanted) + 1] == wanted + b"\0":
            return offset, size
    raise FatbinError(f"no {name} section")


def walk(data: bytes | bytearray, offset: int, size: int) -> Iterator[Image]:
    """Every image of every fat binary in ``data[offset : offset + size]``."""
    end, p, index = offset + size, offset, 0
    while p < end:
        magic, _version, header_size, entries_size = struct.unpack_from("<IHHQ", data, p)
        if magic != FATBIN_MAGIC:
            aligned = min(p // 8 * 8 + 8, end)  # fat binaries start 8-byte aligned
            if any(data[p:aligned]):
                raise FatbinError(f"no fat binary header at {p:#x}")
            p = aligned
            continue
        q, fend = p + header_size, p + header_size + entries_size
        if fend > end:
            raise FatbinError(f"fat binary at {p:#x} runs past the section")
        while q < fend:
            kind, _v, entry_header, payload = struct.unpack_from("<HHII", data, q)
            arch = struct.unpack_from("<I", data, q + 28)[0]
            if entry_header < 32 or q + entry_header + payload > fend:
                raise FatbinError(f"entry at {q:#x} does not fit its fat binary")
            yield Image(index, kind, arch, q + entry_header, payload)
            q += entry_header + payload
        p, index = fend, index + 1


def keep_arch(data: bytearray, arch: int) -> Kept:
    """Zero, in place, the payloads of images for other architectures in every fat binary that
    holds a cubin for ``arch``; leave the rest of ``data`` as it was."""
    offset, size = section(data)
    by_fatbin: dict[int, list[Image]] = {}
    for image in walk(data, offset, size):
        by_fatbin.setdefault(image.fatbin, []).append(image)
    zeroed = zeroed_bytes = whole = 0
    for images in by_fatbin.values():
        if not any(image.arch == arch and image.kind in CUBIN_KINDS for image in images):
            whole += 1
            continue
        for image in images:
            if image.arch != arch:
                data[image.start : image.start + image.size] = bytes(image.size)
                zeroed, zeroed_bytes = zeroed + 1, zeroed_bytes + image.size
    images_total = sum(len(images) for images in by_fatbin.values())
    return Kept(len(by_fatbin), images_total, zeroed, zeroed_bytes, whole)


def keep_arch_file(path: Path, arch: int) -> Kept:
    """:func:`keep_arch` on a file, rewritten in place (same size)."""
    data = bytearray(path.read_bytes())
    kept = keep_arch(data, arch)
    path.write_bytes(data)
    return kept
