"""Every refusal of the API as one exception type per status, rendered as JSON in one place.

The body is always ``{"error": <short code>, "message": <what happened and what to do>}``.
"""

from __future__ import annotations

import json
from typing import Optional

from twisted.web.iweb import IRequest


class ApiError(Exception):
    """A refusal: its HTTP status, a short code and a message for a human."""

    status = 500
    error = "internal_error"

    def __init__(self, message: str, error: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        if error is not None:
            self.error = error


class BadRequest(ApiError):
    status, error = 400, "bad_request"


class Unauthorized(ApiError):
    status, error = 401, "unauthorized"


class Forbidden(ApiError):
    status, error = 403, "forbidden"


class NotFound(ApiError):
    status, error = 404, "not_found"


class Conflict(ApiError):
    status, error = 409, "conflict"


class TooLarge(ApiError):
    status, error = 413, "too_large"


class Unsupported(ApiError):
    status, error = 415, "unsupported_media_type"


class TooMany(ApiError):
    status, error = 429, "queue_full"


def json_body(request: IRequest, status: int, document: object) -> bytes:
    """Set the status and Content-Type of a JSON answer; return its body."""
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", b"application/json")
    return json.dumps(document).encode("utf-8")


def error_body(request: IRequest, status: int, error: str, message: str) -> bytes:
    """A JSON error answer."""
    return json_body(request, status, {"error": error, "message": message})
