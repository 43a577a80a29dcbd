"""Domain errors. Each carries the HTTP status it maps to; the mapping lives in one place
(``ringback.api.errors``), so services raise what went wrong, not how to say it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One bad input field, named the way the client sent it."""

    field: str
    message: str


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, fields: tuple[FieldProblem, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


class BadRequest(DomainError):
    status, code = 400, "bad_request"


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class Gone(DomainError):
    status, code = 410, "gone"


class PayloadTooLarge(DomainError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(DomainError):
    status, code = 415, "unsupported_media_type"


class Unprocessable(DomainError):
    status, code = 422, "validation_error"


class RateLimited(DomainError):
    """Too many requests; ``retry_after_s`` becomes the Retry-After header."""

    status, code = 429, "rate_limited"

    def __init__(self, message: str = "too many requests", *, retry_after_s: int = 60) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unavailable(DomainError):
    status, code = 503, "unavailable"
