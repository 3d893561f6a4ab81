"""Per-app service state (no module globals): stored on ``app.state.service``."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from app.admission import OverloadLog, UploadSlots
from app.config import Settings
from app.errors import ServiceError
from app.observability import ServiceMetrics
from app.registry import ModelRegistry
from app.tagger import Tagger


class NotReadyError(ServiceError):
    """The default model is not loaded and warmed up yet (503)."""

    status_code = 503


@dataclass
class ServiceState:
    settings: Settings
    registry: ModelRegistry
    tagger: Tagger
    metrics: ServiceMetrics
    default_model: str | None = None
    ready: bool = False
    uploads: UploadSlots = field(init=False)
    overload_log: OverloadLog = field(init=False)

    def __post_init__(self) -> None:
        self.uploads = UploadSlots(self.settings.max_uploads)
        self.overload_log = OverloadLog(self.settings.overload_log_interval_s)

    def require_ready(self) -> str:
        """The default model's name, or 503 while start-up has not finished."""
        if not self.ready or self.default_model is None:
            raise NotReadyError("the service is starting: the default model is not loaded yet")
        return self.default_model


async def get_state(request: Request) -> ServiceState:
    """FastAPI dependency: the state of the app serving this request (async: a sync
    dependency would cost every request a thread-pool hop)."""
    return request.app.state.service
