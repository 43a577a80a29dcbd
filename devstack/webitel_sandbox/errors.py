"""Webitel's error body, as the sandbox answers it."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class ApiError(Exception):
    """A request the sandbox refuses, answered as ``{"id", "status", "detail", "request_id", "code"}``."""

    def __init__(self, http_status: int, error_id: str, detail: str) -> None:
        super().__init__(f"{http_status} {error_id}: {detail}")
        self.http_status = http_status
        self.error_id = error_id
        self.detail = detail

    def body(self, request_id: str) -> dict[str, Any]:
        return error_body(self.http_status, self.error_id, self.detail, request_id)


def error_body(http_status: int, error_id: str, detail: str, request_id: str) -> dict[str, Any]:
    return {
        "id": error_id,
        "status": HTTPStatus(http_status).phrase,
        "detail": detail,
        "request_id": request_id,
        "code": http_status,
    }


def bad_request(error_id: str, detail: str) -> ApiError:
    return ApiError(400, error_id, detail)


def not_found(error_id: str, detail: str) -> ApiError:
    return ApiError(404, error_id, detail)
