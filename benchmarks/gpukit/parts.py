"""The kit as one xz-compressed tar cut into parts, each small enough for one device call.

A lent device machine takes at most 64 MiB per call (the working tree included) and keeps
ignored folders between the calls of one lease, so the kit travels as ``KIT/1``, ``KIT/2``, ...,
one folder per call, each holding its part and the whole kit's manifest. :func:`unpack` runs
there with the standard library alone (the kit is what brings the rest): it names the parts
still missing, checks every part's sha256, and extracts the archive once.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import shutil
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

MANIFEST = "manifest.json"
PART = "part"
DONE = ".gpukit-done"  # in the extraction folder: the manifest it was extracted from


class KitError(RuntimeError):
    """A kit that cannot be used as it is; the message says what is wrong."""


class MissingParts(KitError):
    """Some parts have not been sent yet."""

    def __init__(self, missing: list[int], total: int) -> None:
        self.missing, self.total = missing, total
        names = ", ".join(str(i) for i in missing)
        super().__init__(f"{total - len(missing)} of {total} parts here; still to send: {names}")


@dataclass(frozen=True)
class Part:
    index: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    parts: list[Part]
    sha256: str  # of the whole compressed archive
    info: dict = field(default_factory=dict)  # what the kit holds (written by the builder)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        raw = json.loads(path.read_text())
        return cls([Part(**p) for p in raw["parts"]], raw["sha256"], raw.get("info", {}))


def compress(sources: dict[str, Path], archive: Path, preset: int = 9) -> None:
    """``archive`` = xz(tar) of each source folder under its name; the ``xz`` program (all
    cores) when there is one, else :mod:`lzma`."""
    xz = shutil.which("xz")
    with archive.open("wb") as out:
        if xz is None:
            with lzma.open(out, "wb", preset=preset) as packed:
                _tar(sources, packed)
            return
        proc = subprocess.Popen([xz, "-T0", f"-{preset}", "-c"], stdin=subprocess.PIPE, stdout=out)
        assert proc.stdin is not None
        with proc.stdin:
            _tar(sources, proc.stdin)
        if proc.wait() != 0:
            raise KitError(f"xz failed with status {proc.returncode}")


def _tar(sources: dict[str, Path], stream: io.RawIOBase | io.BufferedIOBase) -> None:
    with tarfile.open(fileobj=stream, mode="w|") as tar:
        for name, folder in sorted(sources.items()):
            tar.add(folder, arcname=name)


def split(archive: Path, kit: Path, part_bytes: int, info: dict) -> Manifest:
    """Cut ``archive`` into ``kit/1/part``, ``kit/2/part``, ... of at most ``part_bytes``, with
    the manifest in every folder."""
    if part_bytes <= 0:
        raise KitError(f"no room for a part: {part_bytes} bytes per call")
    if kit.exists():
        shutil.rmtree(kit)
    whole, parts = hashlib.sha256(), []
    with archive.open("rb") as src:
        while chunk := src.read(part_bytes):
            index = len(parts) + 1
            (kit / str(index)).mkdir(parents=True)
            (kit / str(index) / PART).write_bytes(chunk)
            whole.update(chunk)
            parts.append(Part(index, len(chunk), hashlib.sha256(chunk).hexdigest()))
    manifest = Manifest(parts, whole.hexdigest(), info)
    for part in parts:
        (kit / str(part.index) / MANIFEST).write_text(manifest.to_json())
    return manifest


def manifest_of(kit: Path) -> Manifest:
    """The manifest of whichever parts are here (they all carry the same one)."""
    found = sorted(kit.glob(f"*/{MANIFEST}"))
    if not found:
        raise KitError(
            f"no kit at {kit} (no */{MANIFEST}): build it with python -m benchmarks.gpukit build"
        )
    manifests = {path.read_text() for path in found}
    if len(manifests) > 1:
        raise KitError(f"parts of different kits in {kit}: rebuild and send them all again")
    return Manifest.read(found[0])


def unpack(kit: Path, dest: Path) -> Manifest:
    """Extract the kit into ``dest`` (once: a second call with the same kit does nothing).

    Raises :class:`MissingParts` while parts are still to come, :class:`KitError` on a part
    that is not the one the manifest names."""
    manifest = manifest_of(kit)
    done = dest / DONE
    if done.is_file() and done.read_text() == manifest.sha256:
        return manifest
    missing = [p.index for p in manifest.parts if not (kit / str(p.index) / PART).is_file()]
    if missing:
        raise MissingParts(missing, len(manifest.parts))
    for part in manifest.parts:
        path = kit / str(part.index) / PART
        if path.stat().st_size != part.bytes or _sha256(path) != part.sha256:
            raise KitError(f"part {part.index} is not the one the manifest names: send it again")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    reader = _Joined(kit / str(p.index) / PART for p in manifest.parts)
    with lzma.open(reader, "rb") as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        tar.extractall(dest, filter="data")
    done.write_text(manifest.sha256)
    return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class _Joined(io.RawIOBase):
    """The parts read one after the other as one stream."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self._paths = iter(paths)
        self._file: io.BufferedReader | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while True:
            if self._file is None:
                path = next(self._paths, None)
                if path is None:
                    return 0
                self._file = path.open("rb")
            n = self._file.readinto(buffer)
            if n:
                return n
            self._file.close()
            self._file = None
