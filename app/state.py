"""Per-app service state (no module globals): stored on ``app.state.service``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from app.config import Settings
from app.errors import LibraryNotMountedError, NotReadyError
from app.observability import ServiceMetrics
from app.registry import ModelRegistry
from app.tagger import Tagger

if TYPE_CHECKING:  # LanceDB and pyarrow are the library extra's: imported only with a library
    from app.library.search import Library


@dataclass
class ServiceState:
    settings: Settings
    registry: ModelRegistry
    tagger: Tagger  # the pipeline, with its admission (upload slots, overload log)
    metrics: ServiceMetrics
    default_model: str | None = None
    ready: bool = False
    library: Library | None = None  # TAGGER_LIBRARY, opened at start-up

    def require_library(self) -> Library:
        """The mounted library, or :class:`LibraryNotMountedError`."""
        if self.library is None:
            raise LibraryNotMountedError(
                "no library is mounted: start the service with TAGGER_LIBRARY=DIR, a folder "
                "built by `python -m app library build`"
            )
        return self.library

    def require_ready(self) -> str:
        """The default model's name, or :class:`NotReadyError` while start-up has not
        finished."""
        if not self.ready or self.default_model is None:
            raise NotReadyError("the service is starting: the default model is not loaded yet")
        return self.default_model


async def get_state(request: Request) -> ServiceState:
    """FastAPI dependency: the state of the app serving this request (async: a sync
    dependency would cost every request a thread-pool hop)."""
    return request.app.state.service


StateDep = Annotated[ServiceState, Depends(get_state)]
"""A router parameter typed ``StateDep`` receives the :class:`ServiceState` of its app."""
