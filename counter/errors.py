"""The counter service's one error type and its JSON form (``{"error": {"code", "message", "field"?}}``, as the
backend's), and the handler that gives every other failure the same shape."""

from __future__ import annotations

import logging
from typing import Any

from sanic import Request, json
from sanic.exceptions import SanicException
from sanic.handlers import ErrorHandler

log = logging.getLogger(__name__)


class CounterError(Exception):
    """An error the caller can act on: HTTP ``status``, stable ``code``, ``message`` for people."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message, self.field = status, code, message, field

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return {"error": body}


SANIC_ERRORS = {
    400: ("bad_request", "请求格式不正确。"),
    404: ("not_found", "没有这个地址。"),
    405: ("method_not_allowed", "不支持这种请求方式。"),
    413: ("payload_too_large", "请求内容太大。"),
}


class JsonErrors(ErrorHandler):
    """Every error leaves as JSON; never an HTML page, never a stack trace."""

    def default(self, request: Request, exception: Exception) -> Any:
        if isinstance(exception, CounterError):
            return json(exception.to_json(), status=exception.status)
        if isinstance(exception, SanicException):
            status = exception.status_code
            code, message = SANIC_ERRORS.get(status, ("bad_request", "请求无法处理。"))
            return json(CounterError(status, code, message).to_json(), status=status)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json(CounterError(500, "internal_error", "系统出了点问题，请稍后再试。").to_json(), status=500)
