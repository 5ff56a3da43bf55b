"""Cases: file (idempotent), get, list by resident / phone / status / department, change status."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sanic import Blueprint, Request, json

from backend.api.common import actor, idempotency_key, parse_body, parse_query, today
from backend.api.openapi import operation
from backend.api.responses import case_out
from backend.api.schemas import CaseCreate, CaseListOut, CaseOut, CaseQuery, TransitionIn
from backend.errors import invalid
from backend.services import case_access
from backend.services import cases as service

cases = Blueprint("cases", url_prefix="/api/v1/cases")


@cases.post("/", strict_slashes=False)
@operation(
    "提交办件（预受理）",
    tag="cases",
    body=CaseCreate,
    responses={201: CaseOut, 200: CaseOut, 404: None, 409: None},
    headers=("Idempotency-Key", "X-Actor"),
)
async def create(request: Request):
    """File a case. 201 when created; 200 with the same case when the Idempotency-Key was seen before."""
    body = parse_body(request, CaseCreate)
    filed = await service.create_case(
        request.app.ctx.db,
        request.app.ctx.catalog,
        body.command(),
        actor=actor(request),
        today=today(request),
        idempotency_key=idempotency_key(request),
        # Only an operator's tool may say a proxy filing's consent was witnessed; the bot (a "yes" in a chat) cannot:
        # staff confirm it at the window.
        consent_witnessed=getattr(request.ctx, "service", None) == "tools",
    )
    return json(
        case_out(filed.case, request.app.ctx.catalog, request.app.ctx.follow_secret).model_dump(mode="json"),
        status=201 if filed.created else 200,
    )


@cases.get("/", strict_slashes=False)
@operation("查询办件", tag="cases", query=CaseQuery, responses={200: CaseListOut})
async def list_cases(request: Request):
    """Cases matching the filters, newest first."""
    query = parse_query(request, CaseQuery, repeated=frozenset({"status"}))
    where = service.CaseFilter(
        id_number=query.id_number,
        phone=query.phone,
        statuses=tuple(query.status),
        department=query.department,
        item_id=query.item_id,
        channel=query.channel,
    )
    total, found = await service.list_cases(request.app.ctx.db, where, limit=query.limit, offset=query.offset)
    catalog = request.app.ctx.catalog
    return json(
        CaseListOut(total=total, cases=[case_out(c, catalog, request.app.ctx.follow_secret) for c in found]).model_dump(
            mode="json"
        )
    )


class CaseLookupIn(BaseModel):
    """Who asks about which case, and how they show it is theirs (backend.services.case_access)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    case_number: Annotated[str, Field(max_length=20)] | None = None
    code: Annotated[str, Field(max_length=16)] | None = None
    """The last four digits of the phone given at filing, or the 6-digit 查询码 on the 受理回执."""
    wechat_openid: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """The follower asking, when they ask on WeChat (their own cases need no code)."""


@cases.post("/lookup")
@operation(
    "居民查询办件进度（本人）", tag="cases", body=CaseLookupIn, responses={200: CaseListOut, 404: None, 422: None}
)
async def lookup(request: Request):
    """The asker's own case: by number with a code or from the filing follower's WeChat; without a number, the
    follower's latest cases. 404, the same for an unknown case, a wrong code and a case locked after wrong codes."""
    body = parse_body(request, CaseLookupIn)
    db, catalog, secret = request.app.ctx.db, request.app.ctx.catalog, request.app.ctx.follow_secret
    if body.case_number:
        proof = case_access.proof_from_code(body.code, wechat_openid=body.wechat_openid)
        found = [await case_access.owned_case(db, body.case_number, proof, secret=secret, today=today(request))]
    elif body.wechat_openid:
        found = await case_access.cases_of_follower(db, body.wechat_openid)
    else:
        raise invalid("case_number_required", "请提供办件编号。", field="case_number")
    listed = CaseListOut(total=len(found), cases=[case_out(case, catalog, secret) for case in found])
    return json(listed.model_dump(mode="json"))


@cases.get("/<case_number:str>")
@operation("查看办件", tag="cases", responses={200: CaseOut, 404: None})
async def get(request: Request, case_number: str):
    """One case by its number."""
    case = await service.get_case(request.app.ctx.db, case_number)
    return json(case_out(case, request.app.ctx.catalog, request.app.ctx.follow_secret).model_dump(mode="json"))


@cases.post("/<case_number:str>/transitions")
@operation(
    "变更办件状态", tag="cases", body=TransitionIn, responses={200: CaseOut, 404: None, 409: None}, headers=("X-Actor",)
)
async def transition(request: Request, case_number: str):
    """Move the case along the status machine; an illegal change gets 409."""
    body = parse_body(request, TransitionIn)
    case = await service.transition_case(
        request.app.ctx.db,
        request.app.ctx.catalog,
        case_number,
        body.command(),
        actor=actor(request),
        today=today(request),
        links=request.app.ctx.follow_links,
    )
    return json(case_out(case, request.app.ctx.catalog, request.app.ctx.follow_secret).model_dump(mode="json"))
