"""What every endpoint shares: parsing bodies and queries into pydantic models with Chinese errors,
the actor (the calling service), the idempotency key, and the centre's date."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sanic import Request
from sanic.exceptions import BadRequest

from backend.api.access import TOKEN_MISSING
from backend.errors import ApiError
from security.tokens import SERVICES

Model = TypeVar("Model", bound=BaseModel)

FIELD_LABELS = {
    "id_number": "身份证号码",
    "name": "姓名",
    "phone": "手机号码",
    "community": "所在社区",
    "item_id": "办理事项",
    "channel": "渠道",
    "category": "号码类别",
    "reason": "原因",
    "to": "目标状态",
    "status": "状态",
    "limit": "每页条数",
    "offset": "起始位置",
    "consent": "同意方式",
    "kind": "打印类别",
    "printer": "打印机",
    "q": "查询内容",
    "subject": "办件编号或号码",
}

_HEADER_VALUE = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}$")
ACTOR_DETAIL_MAX = 64 - 1 - max(len(service) for service in SERVICES)
"""Longest X-Actor: with the service before it, the audit log's actor (64 characters) holds it whole."""
ACTOR_PATTERN = rf"^[A-Za-z0-9_.:@-]{{1,{ACTOR_DETAIL_MAX}}}$"
_ACTOR_VALUE = re.compile(ACTOR_PATTERN)


def _label(loc: tuple[Any, ...]) -> str:
    names = [str(part) for part in loc if not isinstance(part, int)]
    if not names:
        return "请求内容"
    return FIELD_LABELS.get(names[-1], ".".join(names))


def _message(error: dict[str, Any]) -> str:
    kind, ctx, label = error["type"], error.get("ctx") or {}, _label(tuple(error["loc"]))
    if kind == "missing":
        return f"缺少必填项“{label}”。"
    if kind == "extra_forbidden":
        return f"不认识的字段“{label}”。"
    if kind == "string_too_short":
        return f"“{label}”不能为空。"
    if kind == "string_too_long":
        return f"“{label}”太长了，最多{ctx.get('max_length')}个字。"
    if kind in {"too_long", "too_short"}:
        return f"“{label}”的条目数量不对。"
    if kind == "string_pattern_mismatch":
        return f"“{label}”的格式不正确。"
    if kind in {"literal_error", "enum"}:
        return f"“{label}”只能是：{ctx.get('expected', '')}。"
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        return f"“{label}”超出了允许的范围。"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"“{label}”的类型不正确。"
    if "ctx" not in error and error.get("msg") and kind not in {"value_error", "assertion_error"}:
        return str(error["msg"])  # our own PydanticCustomError messages are Chinese already
    return f"“{label}”的值不正确。"


def validation_error(exc: ValidationError) -> ApiError:
    """The first problem as a 422, with every problem listed in ``details``."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    code = first["type"] if first["type"].startswith(("id_number_", "phone_", "proxy_")) else "invalid_field"
    details = [{"field": ".".join(str(p) for p in e["loc"]), "message": _message(e)} for e in errors]
    field = ".".join(str(p) for p in first["loc"]) or None
    return ApiError(422, code, _message(first), field=field, details=details)


def parse_body(request: Request, model: type[Model]) -> Model:
    """The JSON body as ``model``: 400 for broken JSON, 422 for values that do not fit."""
    try:
        data = request.json
    except BadRequest:
        raise ApiError(400, "invalid_json", "请求内容不是有效的JSON。") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ApiError(422, "body_not_object", "请求内容应为JSON对象。")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def parse_query(request: Request, model: type[Model], *, repeated: frozenset[str] = frozenset()) -> Model:
    """Query parameters as ``model``; names in ``repeated`` may appear several times and become lists."""
    data: dict[str, Any] = {}
    for key, values in request.args.items():
        data[key] = values if key in repeated else values[-1]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def actor(request: Request) -> str:
    """Who acts, for the audit log: the calling service whose token the request carries (`backend.api.access`),
    with the caller's own ``X-Actor`` after it as a detail (``actions:bot``, ``devices:keypad:3``). X-Actor alone
    proves nothing, so it never stands without a token."""
    service = getattr(request.ctx, "service", None)
    if service is None:  # the middleware lets no write through without a token; a read has no actor to record
        raise ApiError(401, TOKEN_MISSING.code, TOKEN_MISSING.message)
    detail = request.headers.get("x-actor")
    if detail is None:
        return service
    detail = detail.strip()
    if not _ACTOR_VALUE.fullmatch(detail):
        raise ApiError(400, "invalid_actor", "X-Actor 请求头格式不正确。")
    return f"{service}:{detail}"


def idempotency_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header, if any (at most 64 characters of letters, digits and ``_.:@-``)."""
    value = request.headers.get("idempotency-key")
    if value is None:
        return None
    value = value.strip()
    if not _HEADER_VALUE.fullmatch(value):
        raise ApiError(
            400, "invalid_idempotency_key", "Idempotency-Key 请求头格式不正确（最多64个字母、数字或 _.:@-）。"
        )
    return value


def today(request: Request) -> dt.date:
    """The centre's current date (``app.ctx.clock`` can be replaced in tests)."""
    return request.app.ctx.clock().date()
