"""The personal-data vault over the internal API: Rasa's channels deposit the numbers they mask, the actions read
them back (`backend.services.vault`).

Who may do what is decided by the calling service's token (`backend.api.access`): ``channels`` and ``actions``
deposit, only ``actions`` (and ``tools``, the operators') read back. A leaked channel token can hide numbers, never
read one. Both are POSTs so that no number ever travels in a URL (which access logs keep).
"""

from __future__ import annotations

import datetime as dt

from sanic import Blueprint, Request, json

from backend.api.common import parse_body
from backend.api.openapi import operation
from backend.api.schemas import VaultDepositIn, VaultDepositOut, VaultLookupIn, VaultLookupOut
from backend.errors import ApiError
from backend.services import vault as service

vault = Blueprint("vault", url_prefix="/api/v1/vault")
DEPOSITORS = frozenset({"channels", "actions", "tools"})
READERS = frozenset({"actions", "tools"})


def _allow(request: Request, services: frozenset[str]) -> None:
    """403 unless the request's service token is one of ``services``."""
    if getattr(request.ctx, "service", None) not in services:
        raise ApiError(403, "service_not_allowed", "该服务无权进行此操作。")


def _now(request: Request) -> dt.datetime:
    return request.app.ctx.clock()


@vault.post("/deposits")
@operation("存放居民说出的号码", tag="vault", body=VaultDepositIn, responses={201: VaultDepositOut})
async def deposit(request: Request):
    """201 with the masked forms; the numbers are kept for `service.TTL`."""
    _allow(request, DEPOSITORS)
    body = parse_body(request, VaultDepositIn)
    now = _now(request)
    masked = await service.deposit(request.app.ctx.db, body.channel, body.sender, body.values, now=now)
    out = VaultDepositOut(masked=masked, expires_at=now + service.TTL)
    return json(out.model_dump(mode="json"), status=201)


@vault.post("/lookups")
@operation("按遮盖形式取回号码（仅限本对话）", tag="vault", body=VaultLookupIn, responses={200: VaultLookupOut})
async def lookup(request: Request):
    """200 with the numbers still kept; the ones expired or never deposited are left out."""
    _allow(request, READERS)
    body = parse_body(request, VaultLookupIn)
    values = await service.reveal(request.app.ctx.db, body.channel, body.sender, body.masked, now=_now(request))
    return json(VaultLookupOut(values=values).model_dump(mode="json"))
