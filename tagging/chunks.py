"""Lazy chunks: a clip's model inputs kept as ``(wave, starts)`` and cut a few rows at a time.

A clip rule (:class:`tagging.clips.ClipRule`) turns a clip into ``N`` chunks of ``L`` samples.
Materialised, they are an ``(N, L)`` float32 array; when the chunks overlap that array is far
larger than the clip (Won et al. 2020's 16 chunks of 29 s over a 29-s clip: 30 MB for a 1.9-MB
clip). :class:`Chunks` holds the clip and the start offsets instead, and :meth:`Chunks.rows` cuts
only the rows one onnxruntime run needs, with :func:`tagging.audio.take_chunks` (the same
zero-padding), so a request waiting in the service's batch queue holds about its clip's size.

Several pieces share one chunk length: the clip's chunks (cut from the clip as the rule padded or
tiled it) followed by the segment chunks (cut from the raw clip), joined with :meth:`Chunks.join`.
A piece's zero padding (musicnn's ``lead``/``tail`` zeros, short clips brought to one chunk) is
kept as two numbers, never as a padded copy of the clip: only the rows touching it hold zeros.
Torch-free (the service imports it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tagging.audio import padded_length, take_chunks


@dataclass(frozen=True, eq=False)
class Piece:
    """Chunks of one signal: ``p[s : s + L]`` for each ``s`` in ``starts``, where ``p`` is
    ``wave`` after ``lead`` and before ``tail`` zeros, zero-padded at the end to at least ``L``
    (:func:`tagging.audio.take_chunks`)."""

    wave: np.ndarray  # (n,) float32
    starts: np.ndarray  # (k,) int64, offsets in the padded signal
    lead: int = 0  # zeros before the wave
    tail: int = 0  # zeros after it

    def padded_length(self, length: int) -> int:
        return padded_length(len(self.wave), length, self.lead, self.tail)


@dataclass(frozen=True, eq=False)
class Chunks:
    """``(N, L)`` model inputs kept lazily as pieces sharing the chunk length ``length`` (L).

    Rows are numbered through the pieces in order. Build with :meth:`cut`, :meth:`of_array` or
    :meth:`join`; ``np.asarray(chunks)`` gives the full ``(N, L)`` array.
    """

    pieces: tuple[Piece, ...]
    length: int

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError(f"the chunk length must be positive, got {self.length}")
        for piece in self.pieces:
            wave, starts = piece.wave, piece.starts
            if wave.ndim != 1 or wave.dtype != np.float32:
                raise ValueError(f"a piece's wave must be (n,) float32, got {wave.shape}")
            if starts.ndim != 1 or starts.dtype != np.int64:
                raise ValueError(f"a piece's starts must be (k,) int64, got {starts.shape}")
            if min(piece.lead, piece.tail) < 0:
                raise ValueError(f"a piece's padding must be >= 0, got {piece.lead}, {piece.tail}")
            last = piece.padded_length(self.length) - self.length
            if len(starts) and not (starts.min() >= 0 and starts.max() <= last):
                raise IndexError(f"chunk starts {starts.min()}..{starts.max()} outside 0..{last}")

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def cut(
        cls, wave: np.ndarray, starts: np.ndarray, length: int, lead: int = 0, tail: int = 0
    ) -> Chunks:
        """One piece: the chunks of ``length`` samples at ``starts`` of ``wave`` after ``lead``
        and before ``tail`` zeros (no copy of a float32 wave, nor a padded one)."""
        wave = np.asarray(wave, dtype=np.float32)
        starts = np.asarray(starts, dtype=np.int64)
        return cls((Piece(wave, starts, int(lead), int(tail)),), int(length))

    @classmethod
    def of_array(cls, chunks: np.ndarray) -> Chunks:
        """An ``(N, L)`` array as lazy chunks without a copy (when it is C-contiguous float32):
        its rows lie end to end in ``chunks.reshape(-1)``, at ``0, L, 2L, ...``."""
        chunks = np.ascontiguousarray(chunks, dtype=np.float32)
        if chunks.ndim != 2:
            raise ValueError(f"expected (N, L) chunks, got shape {chunks.shape}")
        n, length = chunks.shape
        return cls.cut(chunks.reshape(-1), np.arange(n, dtype=np.int64) * length, length)

    @classmethod
    def of(cls, chunks: Chunks | np.ndarray) -> Chunks:
        """``chunks`` as they are, or an ``(N, L)`` array wrapped (:meth:`of_array`)."""
        return chunks if isinstance(chunks, Chunks) else cls.of_array(chunks)

    @classmethod
    def join(cls, *parts: Chunks) -> Chunks:
        """The rows of ``parts`` one after the other (one chunk length); nothing is copied."""
        if not parts:
            raise ValueError("nothing to join")
        lengths = {part.length for part in parts}
        if len(lengths) != 1:
            raise ValueError(f"chunks of different lengths cannot be joined: {sorted(lengths)}")
        return cls(tuple(p for part in parts for p in part.pieces), parts[0].length)

    # -- the (N, L) view -----------------------------------------------------------------------
    def __len__(self) -> int:
        return sum(len(p.starts) for p in self.pieces)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self), self.length

    @property
    def held_nbytes(self) -> int:
        """Bytes these chunks keep alive: their distinct waves and start arrays (not ``N x L``)."""
        waves = {id(p.wave): p.wave.nbytes for p in self.pieces}
        return sum(waves.values()) + sum(p.starts.nbytes for p in self.pieces)

    def rows(self, i: int, j: int) -> np.ndarray:
        """Rows ``i:j`` as a C-contiguous ``(j - i, L)`` float32 array, cut from the pieces they
        fall in (:func:`tagging.audio.take_chunks`; one piece: no concatenation).

        Rows that lie end to end inside one piece's wave, a single row above all (one chunk per
        run on CPU), come as a read-only view of it: nothing is copied, and onnxruntime reads
        its input in place (Won's 29-s chunks of ``won_fcn``: 1.9 MB a run). Any other rows are
        a fresh array."""
        n = len(self)
        if not 0 <= i <= j <= n:
            raise IndexError(f"rows {i}:{j} outside 0:{n}")
        view = self._view(i, j)
        return view if view is not None else self._cut(i, j)

    def _cut(self, i: int, j: int) -> np.ndarray:
        """Rows ``i:j`` as a fresh ``(j - i, L)`` array."""
        out = []
        offset = 0  # first row of the current piece
        for piece in self.pieces:
            k = len(piece.starts)
            a, b = max(i - offset, 0), min(j - offset, k)
            if a < b:
                out.append(
                    take_chunks(piece.wave, piece.starts[a:b], self.length, piece.lead, piece.tail)
                )
            offset += k
        if len(out) == 1:
            return out[0]
        if not out:
            return np.empty((0, self.length), dtype=np.float32)
        return np.concatenate(out)

    def _view(self, i: int, j: int) -> np.ndarray | None:
        """Rows ``i:j`` (``i < j``) as a read-only view of one piece's wave when they lie end to
        end inside it, else None."""
        if j <= i:
            return None
        offset = 0  # first row of the current piece
        for piece in self.pieces:
            k = len(piece.starts)
            if i < offset + k:
                if j > offset + k or not piece.wave.flags.c_contiguous:
                    return None
                first = int(piece.starts[i - offset]) - piece.lead  # in the wave
                count = j - i
                stop = first + count * self.length
                if first < 0 or stop > len(piece.wave):
                    return None  # the rows reach into the zeros around the wave
                if count > 1 and np.any(
                    np.diff(piece.starts[i - offset : j - offset]) != self.length
                ):
                    return None  # not end to end
                view = piece.wave[first:stop].reshape(count, self.length)
                view.flags.writeable = False  # the wave is shared: nobody writes through it
                return view
            offset += k
        return None

    def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
        if copy is False:
            raise ValueError("lazy chunks cannot be viewed as an array without a copy")
        full = self._cut(0, len(self))  # fresh: never a view of the wave
        return full if dtype is None else full.astype(dtype, copy=False)
