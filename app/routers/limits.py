"""What an upload must satisfy, stated before it is sent: the size and duration limits.

The page reads these to say the limits next to the file input and to refuse a file over the
size limit without uploading it; the service enforces the same settings (413 / 400).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.state import StateDep

router = APIRouter(tags=["limits"])


class LimitsResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "max_upload_mb": 20.0,
                    "max_upload_bytes": 20971520,
                    "max_duration_s": 600.0,
                    "min_duration_s": 1.0,
                }
            ]
        }
    )

    max_upload_mb: float = Field(description="Largest request body in MiB (TAGGER_MAX_UPLOAD_MB).")
    max_upload_bytes: int = Field(description="The same limit in bytes (413 past it).")
    max_duration_s: float = Field(description="Longest audio in seconds (TAGGER_MAX_DURATION_S).")
    min_duration_s: float = Field(description="Shortest audio in seconds (TAGGER_MIN_DURATION_S).")


@router.get("/limits", summary="Upload size and duration limits", response_model=LimitsResponse)
async def limits(state: StateDep) -> LimitsResponse:
    """The upload limits of this service (413 past the size or the longest duration, 400 below
    the shortest)."""
    s = state.settings
    return LimitsResponse(
        max_upload_mb=s.max_upload_mb,
        max_upload_bytes=s.max_upload_bytes,
        max_duration_s=s.max_duration_s,
        min_duration_s=s.min_duration_s,
    )
