"""Cases: file (idempotent), get, list by resident / phone / status / department, change status."""

from __future__ import annotations

from sanic import Blueprint, Request, json

from backend.api.common import actor, idempotency_key, parse_body, parse_query, today
from backend.api.openapi import operation
from backend.api.present import case_out
from backend.api.schemas import CaseCreate, CaseListOut, CaseOut, CaseQuery, TransitionIn
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
        body,
        actor=actor(request),
        today=today(request),
        idempotency_key=idempotency_key(request),
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
        request.app.ctx.db, request.app.ctx.catalog, case_number, body, actor=actor(request), today=today(request)
    )
    return json(case_out(case, request.app.ctx.catalog, request.app.ctx.follow_secret).model_dump(mode="json"))
