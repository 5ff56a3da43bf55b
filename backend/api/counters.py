"""The voice counters, for the counter service (`counter.backend_api`): whose credential a screen or a microphone
presented, and the record of each resident's session that ended. Internal: a service token is required
(`backend.api.access`); the counter service calls as ``devices``."""

from __future__ import annotations

from sanic import Blueprint, Request, json

from backend.api.common import parse_body
from backend.api.openapi import operation
from backend.api.schemas import CounterKeyIn, CounterOut, CounterSessionIn
from backend.errors import ApiError
from backend.services import counter_devices, resident_sessions

counters = Blueprint("counters", url_prefix="/api/v1/counters")

NOT_AUTHORISED = ApiError(403, "counter_not_authorised", "这台服务台还没有开通，请找工作人员。")


def _secret(request: Request) -> bytes:
    ctx = request.app.ctx
    if not hasattr(ctx, "counters_secret"):
        ctx.counters_secret = counter_devices.server_secret()
    return ctx.counters_secret


@counters.post("/authenticate")
@operation("核验服务台凭证", tag="counters", body=CounterKeyIn, responses={200: CounterOut, 403: None})
async def authenticate(request: Request):
    """The active counter whose credential ``key`` is; 403 for a wrong, forged or revoked one."""
    body = parse_body(request, CounterKeyIn)
    name = await counter_devices.authenticate(request.app.ctx.db, _secret(request), body.key)
    if name is None:
        raise NOT_AUTHORISED
    return json(CounterOut(counter=name).model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@counters.post("/<name:str>/sessions")
@operation("记录服务台居民会话", tag="counters", body=CounterSessionIn, responses={201: None, 404: None, 422: None})
async def record_session(request: Request, name: str):
    """Record a resident's session at counter ``name`` that ended."""
    body = parse_body(request, CounterSessionIn)
    if counter_devices.COUNTER_NAME.fullmatch(name) is None:
        raise ApiError(404, "counter_not_found", "没有这台服务台。")
    ended = resident_sessions.EndedSession(name, body.started_at, body.reason, body.turns)
    await resident_sessions.record_ended(request.app.ctx.db, ended)
    return json({"recorded": True}, status=201)
