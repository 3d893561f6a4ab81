"""The request's uploaded file for the tagging path: ``POST /predict`` and ``POST /similar``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO

from fastapi import Request

from app.config import Settings
from app.uploads import receive_upload


@asynccontextmanager
async def upload_body(request: Request, settings: Settings) -> AsyncIterator[IO[bytes]]:
    """The request's ``file`` part, spooled; read only when entered (once admitted)."""
    upload = await receive_upload(request.stream(), request.headers.get("content-type"), settings)
    try:
        yield upload.file
    finally:
        upload.close()
