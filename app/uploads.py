"""Streaming multipart reader for ``POST /predict``: one ``file`` part into a bounded spool.

The body is parsed as it arrives (python-multipart's push parser) and the ``file`` part is
written to a :class:`tempfile.SpooledTemporaryFile`: at most ``TAGGER_SPOOL_MEMORY_MB`` of it
in memory, the rest on disk in ``TAGGER_SPOOL_DIR``; other parts are skipped without being
stored. The first ``TAGGER_SNIFF_BYTES`` of the file are checked for an audio header
(:func:`app.sniff.sniff`) before the rest is read. ``filename*=`` (RFC 5987/2231) is read
like ``filename=``; a second ``file`` part is refused (422) instead of silently replacing the
first one.
"""

from __future__ import annotations

import email.message
import email.utils
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import IO

import python_multipart
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect

from app.config import Settings
from app.errors import (
    ClientGoneError,
    EmptyUploadError,
    FormFieldError,
    MalformedBodyError,
    UnsupportedAudioError,
)
from app.sniff import sniff

FIELD = "file"
MAX_PART_HEADER_BYTES = 16 * 1024
"""Longest header block of one part (a Content-Disposition is ~100 bytes)."""


def missing_file() -> FormFieldError:
    return FormFieldError("invalid request: file: Field required", "Field required", "missing")


def multipart_boundary(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type (no ``file`` part for any other
    body)."""
    ctype, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise missing_file()
    return boundary


def disposition(header: bytes) -> tuple[str | None, str | None, bool]:
    """``(name, filename, has_filename)`` of a part's Content-Disposition header.

    ``filename*=UTF-8''...`` (RFC 5987/2231, preferred over ``filename=`` when both are there)
    is decoded by the standard library's e-mail parameter parser.
    """
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError:
        text = header.decode("latin-1")
    msg = email.message.Message()
    msg["content-disposition"] = text
    params = {k.lower().rstrip("*") for k, _ in msg.get_params([], header="content-disposition")}
    name = msg.get_param("name", header="content-disposition")
    filename = msg.get_filename()
    return (
        email.utils.collapse_rfc2231_value(name) if name is not None else None,
        filename,
        "filename" in params,
    )


@dataclass
class Upload:
    """The received ``file`` part, spooled (file position 0), and what came with it."""

    file: IO[bytes]
    size: int
    filename: str | None
    format_hint: str  # what the header sniff recognised

    def close(self) -> None:
        self.file.close()


@dataclass
class _Parse:
    """Callback state of one multipart parse."""

    settings: Settings
    spool: IO[bytes] | None = None
    filename: str | None = None
    size: int = 0
    format_hint: str | None = None
    head: bytearray = field(default_factory=bytearray)
    header_name: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    disposition: bytes = b""
    in_file: bool = False
    file_parts: int = 0

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self.disposition = b""
        self.in_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._grow(self.header_name, data[start:end])

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._grow(self.header_value, data[start:end])

    def _grow(self, buffer: bytearray, piece: bytes) -> None:
        buffer += piece
        if len(self.header_name) + len(self.header_value) > MAX_PART_HEADER_BYTES:
            raise MalformedBodyError(f"a part's header exceeds {MAX_PART_HEADER_BYTES} bytes")

    def on_header_end(self) -> None:
        if bytes(self.header_name).strip().lower() == b"content-disposition":
            self.disposition = bytes(self.header_value).strip()
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        name, filename, has_filename = disposition(self.disposition)
        if name != FIELD:
            return  # another field: skipped, never stored
        if not has_filename:
            raise FormFieldError(
                "invalid request: file: expected a file upload (a part with a filename), "
                "got a text field",
                "Expected a file upload, got a text field",
                "value_error",
            )
        self.file_parts += 1
        if self.file_parts > 1:
            raise FormFieldError(
                "invalid request: file: more than one 'file' part; send exactly one file per "
                "request",
                "More than one file part",
                "too_many_files",
            )
        s = self.settings
        self.spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed by Upload.close)
            max_size=s.spool_memory_bytes, dir=s.spool_dir
        )
        self.filename = filename
        self.in_file = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.in_file or self.spool is None:
            return
        piece = memoryview(data)[start:end]
        self.spool.write(piece)
        self.size += len(piece)
        if self.format_hint is None:
            need = self.settings.sniff_bytes - len(self.head)
            self.head += piece[:need]
            if len(self.head) >= self.settings.sniff_bytes:
                self.check_head()

    def on_part_end(self) -> None:
        if self.in_file:
            self.in_file = False
            if self.size == 0:
                raise EmptyUploadError("the uploaded file is empty (0 bytes)")
            if self.format_hint is None:
                self.check_head()

    def check_head(self) -> None:
        self.format_hint = sniff(bytes(self.head))
        self.head = bytearray()
        if self.format_hint is None:
            raise UnsupportedAudioError(
                "the upload is not decodable audio: no audio header (MP3, WAV, FLAC, OGG, ...) "
                f"in its first {self.settings.sniff_bytes} bytes"
            )


async def receive_upload(
    stream: AsyncIterator[bytes], content_type: str | None, settings: Settings
) -> Upload:
    """Parse the body as it streams in; the one ``file`` part, spooled and rewound.

    Raises :class:`MalformedBodyError`, :class:`EmptyUploadError`, :class:`UnsupportedAudioError`
    (no audio header) or :class:`FormFieldError` (no or several ``file`` parts); the body guard
    (:mod:`app.limits`) raises its own errors from the stream itself.
    """
    state = _Parse(settings)
    parser = python_multipart.MultipartParser(multipart_boundary(content_type), state.callbacks())
    try:
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
        if state.in_file:
            raise MalformedBodyError("the body ended inside the file part (no closing boundary)")
        if state.spool is None:
            raise missing_file()
    except BaseException as exc:
        if state.spool is not None:
            state.spool.close()
        if isinstance(exc, FormParserError):
            raise MalformedBodyError(f"the body is not valid multipart/form-data: {exc}") from exc
        if isinstance(exc, ClientDisconnect):
            raise ClientGoneError("the client disconnected during the upload") from exc
        raise
    state.spool.seek(0)
    return Upload(state.spool, state.size, state.filename, state.format_hint or "")
