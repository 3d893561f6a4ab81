"""Read a TensorFlow checkpoint bundle (V2 ``Saver`` format) with numpy only, no TensorFlow.

A bundle ``<prefix>`` is ``<prefix>.index`` plus ``<prefix>.data-SSSSS-of-NNNNN`` shards. The index
is a LevelDB-format sorted table (SSTable): data blocks of prefix-compressed key/value entries,
an index block pointing at them, and a 48-byte footer (metaindex and index block handles, then
the magic number ``0xdb4775248b80fb57``). The value for the empty key is a ``BundleHeaderProto``
(``num_shards``, ``endianness``); every other key is a tensor name whose value is a
``BundleEntryProto`` (``dtype``, ``shape``, ``shard_id``, ``offset``, ``size``): the tensor's raw
bytes in the data shard. Formats: tensorflow/core/util/tensor_bundle/tensor_bundle.proto and
tensorflow/core/lib/io/{format,block}.cc (same layout as LevelDB's table_format.md).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_BYTES = 48
BLOCK_TRAILER_BYTES = 5  # compression type (1 byte) + masked crc32c (4 bytes)
DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}
"""TensorFlow ``DataType`` enum -> numpy dtype (little-endian bundles; strings are skipped)."""
DT_STRING = 7


class CheckpointError(ValueError):
    """The files are not a readable TensorFlow checkpoint bundle."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; returns ``(value, next_pos)``."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise CheckpointError("varint too long")


def _proto_fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """Wire-format protobuf -> ``[(field_number, value)]`` (varints as int, others as bytes)."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:  # varint
            value, pos = _varint(buf, pos)
            fields.append((number, value))
        elif wire == 1:  # fixed64
            fields.append((number, buf[pos : pos + 8]))
            pos += 8
        elif wire == 2:  # length-delimited
            length, pos = _varint(buf, pos)
            fields.append((number, buf[pos : pos + length]))
            pos += length
        elif wire == 5:  # fixed32
            fields.append((number, buf[pos : pos + 4]))
            pos += 4
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire}")
    if pos != len(buf):
        raise CheckpointError("truncated protobuf message")
    return fields


def _block(data: bytes, offset: int, size: int) -> bytes:
    """The contents of the table block at ``offset`` (uncompressed blocks only)."""
    end = offset + size
    if end + BLOCK_TRAILER_BYTES > len(data):
        raise CheckpointError("block handle points past the end of the index file")
    if data[end] != 0:
        raise CheckpointError(f"compressed table block (type {data[end]}) is not supported")
    return data[offset:end]


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """All ``(key, value)`` of a block: entries ``shared, unshared, value_len, key_delta, value``
    followed by the restart offsets (uint32 each) and their count (uint32)."""
    if len(block) < 4:
        raise CheckpointError("table block too short")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * n_restarts
    if limit < 0:
        raise CheckpointError("corrupt table block restart array")
    entries, key, pos = [], b"", 0
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + value_len]))
        pos += value_len
    return entries


def _handle(buf: bytes, pos: int = 0) -> tuple[int, int, int]:
    """A ``BlockHandle`` (offset varint, size varint) -> ``(offset, size, next_pos)``."""
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def read_index(index_path: str | Path) -> dict[bytes, bytes]:
    """Every key/value of a ``.index`` SSTable, in key order."""
    data = Path(index_path).read_bytes()
    if len(data) < FOOTER_BYTES:
        raise CheckpointError(f"{index_path} is too short to be a checkpoint index")
    footer = data[-FOOTER_BYTES:]
    if struct.unpack("<Q", footer[-8:])[0] != TABLE_MAGIC:
        raise CheckpointError(f"{index_path} is not an SSTable (bad magic number)")
    _, _, pos = _handle(footer)  # metaindex handle: unused (no filters in bundles)
    index_offset, index_size, _ = _handle(footer, pos)
    table: dict[bytes, bytes] = {}
    for _, handle in _block_entries(_block(data, index_offset, index_size)):
        offset, size, _ = _handle(handle)
        table.update(_block_entries(_block(data, offset, size)))
    return table


def _shape(buf: bytes) -> tuple[int, ...]:
    """``TensorShapeProto``: repeated ``dim`` (field 2) with ``size`` (field 1)."""
    dims = []
    for number, value in _proto_fields(buf):
        if number == 3 and value:  # unknown_rank
            raise CheckpointError("tensor of unknown rank")
        if number == 2:
            size = dict(_proto_fields(value)).get(1, 0)
            dims.append(int(size))
    return tuple(dims)


def _entry(buf: bytes) -> dict[str, object]:
    """``BundleEntryProto`` -> dict with dtype, shape, shard_id, offset, size, slices."""
    out: dict[str, object] = {"dtype": 0, "shape": (), "shard_id": 0, "offset": 0, "size": 0}
    names = {1: "dtype", 3: "shard_id", 4: "offset", 5: "size"}
    for number, value in _proto_fields(buf):
        if number in names:
            out[names[number]] = value
        elif number == 2:
            out["shape"] = _shape(value)
        elif number == 7:
            out["slices"] = True
    return out


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """All tensors of the bundle ``prefix`` (``prefix.index`` + data shards) as numpy arrays.

    ``prefix`` may end in a separator (``"MTT_musicnn/"``, whose files are ``MTT_musicnn/.index``
    ...), as ``tf.train.Saver`` writes them. String tensors and partitioned (sliced) variables
    are skipped; a big-endian bundle raises :class:`CheckpointError`.
    """
    prefix = str(prefix)
    table = read_index(prefix + ".index")
    header = dict(_proto_fields(table.get(b"", b"")))
    num_shards = int(header.get(1, 1))  # type: ignore[arg-type]
    if int(header.get(2, 0)) != 0:  # type: ignore[arg-type]
        raise CheckpointError("big-endian checkpoints are not supported")
    shards: dict[int, bytes] = {}
    tensors: dict[str, np.ndarray] = {}
    for key, value in table.items():
        if key == b"":
            continue
        entry = _entry(value)
        if entry.get("slices") or entry["dtype"] == DT_STRING:
            continue
        dtype = DTYPES.get(int(entry["dtype"]))  # type: ignore[arg-type]
        if dtype is None:
            raise CheckpointError(f"{key.decode()}: unsupported dtype enum {entry['dtype']}")
        shard = int(entry["shard_id"])  # type: ignore[arg-type]
        if shard not in shards:
            path = f"{prefix}.data-{shard:05d}-of-{num_shards:05d}"
            try:
                shards[shard] = Path(path).read_bytes()
            except OSError as exc:
                raise CheckpointError(f"cannot read data shard {path}: {exc}") from exc
        shape = tuple(entry["shape"])  # type: ignore[arg-type]
        offset, size = int(entry["offset"]), int(entry["size"])  # type: ignore[arg-type]
        count = int(np.prod(shape, dtype=np.int64))
        if size != count * dtype.itemsize or offset + size > len(shards[shard]):
            raise CheckpointError(f"{key.decode()}: entry size does not match shape {shape}")
        raw = np.frombuffer(shards[shard], dtype=dtype, count=count, offset=offset)
        tensors[key.decode()] = raw.reshape(shape).copy()
    return tensors
