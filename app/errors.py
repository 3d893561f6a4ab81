"""Domain errors of the tagging service: what went wrong, in words and structured fields.

The pipeline (decode -> chunk -> run -> aggregate), the model registry, the batcher, admission
and the upload reader raise these; none of them knows about HTTP. Each carries a human message
(``detail``) and extra fields (``duration_s``, ``max_duration_s``, ``retry_after_s``...) that a
caller may show: :mod:`app.http_errors` turns them into status codes, headers and JSON bodies,
the command line (:mod:`app.cli`) prints the message.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of every error the service reports to its caller: a message and extra fields."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


# -- the upload and its audio ------------------------------------------------------------------
class EmptyUploadError(ServiceError):
    """The upload has no bytes or no audio samples."""


class AudioTooShortError(ServiceError):
    """The audio is shorter than the minimum duration (``duration_s``, ``min_duration_s``)."""


class AudioLimitError(ServiceError):
    """The audio lasts longer than allowed (``max_duration_s``), or took longer than allowed to
    decode (``max_decode_s``)."""


class UnsupportedAudioError(ServiceError):
    """The upload is not audio we can decode; the message says what was found."""


class MalformedBodyError(ServiceError):
    """The request body is not parseable multipart/form-data."""


class ClientGoneError(ServiceError):
    """The client disconnected before its body was complete (nobody reads the answer)."""


class FormFieldError(ServiceError):
    """The form lacks exactly one ``file`` part (``errors`` in pydantic's shape)."""

    def __init__(self, detail: str, msg: str, kind: str) -> None:
        super().__init__(detail, errors=[{"loc": ["body", "file"], "msg": msg, "type": kind}])


# -- options and models ------------------------------------------------------------------------
class InvalidOptionError(ServiceError):
    """An option value that is valid in type but not for this model (``errors`` names it)."""


class UnknownModelError(ServiceError):
    """No model of that name in the models directory; lists the valid names."""

    def __init__(self, name: str, available: list[str]) -> None:
        super().__init__(
            f"unknown model {name!r}; available models: {', '.join(available) or '(none)'}",
            available=available,
        )


class ModelLoadError(ServiceError):
    """A model exists but cannot be loaded (bad card, bad ONNX, provider refused)."""


# -- capacity and lifecycle --------------------------------------------------------------------
class NotReadyError(ServiceError):
    """The default model is not loaded and warmed up yet."""


class ShuttingDownError(ServiceError):
    """The service is shutting down: its batchers take no more work."""


class OverloadedError(ServiceError):
    """No room for the request now; ``retry_after_s`` says when there probably is.

    The message ends with the advice and ``retry_after_s`` is the last extra field.
    """

    def __init__(self, detail: str, retry_after_s: int, **extra: Any) -> None:
        super().__init__(
            f"{detail}; retry in about {retry_after_s} s", **extra, retry_after_s=retry_after_s
        )
        self.retry_after_s = retry_after_s


class QueueFullError(OverloadedError):
    """The model's inference queue is full (``queue_depth``, ``max_queue``)."""


class UploadsFullError(OverloadedError):
    """Too many uploads in flight (``uploads_in_flight``, ``max_uploads``)."""


# -- the mounted library (app.library.search) --------------------------------------------------
class NotALibraryError(ServiceError):
    """A folder that is not a library (no readable manifest or table): a start-up error."""


class LibraryNotMountedError(ServiceError):
    """A library operation on a service started without ``TAGGER_LIBRARY``."""


class UnknownTrackError(ServiceError):
    """No track of that id in the library, or one without an embedding (it failed to tag)."""


class ModelMismatchError(ServiceError):
    """A query embedded by another model (or version, or width) than the library's
    (``library_model``, ``query_model``)."""
