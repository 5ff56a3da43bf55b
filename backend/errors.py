"""The one error type the API turns into a JSON response: a machine code and a Chinese message."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the caller can act on: HTTP ``status``, stable ``code``, ``message`` for people."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None, details: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.details = details

    def to_json(self) -> dict[str, Any]:
        """The response body: ``{"error": {"code", "message", "field"?, "details"?}}``."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


def not_found(code: str, message: str) -> ApiError:
    """A 404 with a code and a Chinese message."""
    return ApiError(404, code, message)


def conflict(code: str, message: str, **kwargs: Any) -> ApiError:
    """A 409: the request is well-formed but clashes with the current state."""
    return ApiError(409, code, message, **kwargs)


def invalid(code: str, message: str, *, field: str | None = None, details: Any = None) -> ApiError:
    """A 422: the request is well-formed JSON but a value is not acceptable."""
    return ApiError(422, code, message, field=field, details=details)
