"""Items of the catalog: list, get, search, eligibility pre-check and personal checklist."""

from __future__ import annotations

from sanic import Blueprint, Request, json

from backend.api.common import parse_body, parse_query, today
from backend.api.openapi import operation
from backend.api.responses import item_out
from backend.api.schemas import (
    ChecklistEntryOut,
    ChecklistIn,
    ChecklistOut,
    EligibilityIn,
    EligibilityOut,
    ItemList,
    ItemListQuery,
    ItemMatchList,
    ItemMatchOut,
    ItemOut,
    ItemSearchQuery,
)
from backend.catalog.checklist import Need
from backend.catalog.eligibility import check_eligibility
from backend.catalog.search import search_items
from backend.services.cases import find_item, personal_checklist

items = Blueprint("items", url_prefix="/api/v1/items")


@items.get("/", strict_slashes=False)
@operation("列出全部办理事项", tag="items", query=ItemListQuery, responses={200: ItemList})
async def list_items(request: Request):
    """All items (optionally one department's), in catalog order."""
    query = parse_query(request, ItemListQuery)
    chosen = [i for i in request.app.ctx.catalog.items if query.department in (None, i.department.value)]
    return json([item_out(i, request.app.ctx.catalog).model_dump(mode="json") for i in chosen])


@items.get("/search")
@operation("按名称或俗称查找事项", tag="items", query=ItemSearchQuery, responses={200: ItemMatchList})
async def search(request: Request):
    """Best matches for what a resident typed."""
    query = parse_query(request, ItemSearchQuery)
    matches = search_items(request.app.ctx.catalog, query.q, limit=query.limit)
    return json(
        [
            ItemMatchOut(item=item_out(m.item, request.app.ctx.catalog), score=m.score, matched=m.matched).model_dump(
                mode="json"
            )
            for m in matches
        ]
    )


@items.get("/<item_id:str>")
@operation("查看一个事项的办事指南", tag="items", responses={200: ItemOut, 404: None})
async def get_item(request: Request, item_id: str):
    """One item with its six guide elements and materials."""
    catalog = request.app.ctx.catalog
    return json(item_out(find_item(catalog, item_id), catalog).model_dump(mode="json"))


@items.post("/<item_id:str>/eligibility")
@operation("办理条件预检", tag="items", body=EligibilityIn, responses={200: EligibilityOut, 404: None})
async def eligibility(request: Request, item_id: str):
    """Check the rules the catalog can check: age from the ID number, residence from answers."""
    item = find_item(request.app.ctx.catalog, item_id)
    body = parse_body(request, EligibilityIn)
    result = check_eligibility(item, id_number=body.id_number, answers=body.answers, today=today(request))
    return json(
        EligibilityOut(
            eligible=result.eligible,
            reasons=result.reasons,
            questions=[r.question for r in result.questions],
            age=result.age,
        ).model_dump(mode="json")
    )


@items.post("/<item_id:str>/checklist")
@operation("生成个人材料清单", tag="items", body=ChecklistIn, responses={200: ChecklistOut, 404: None})
async def checklist(request: Request, item_id: str):
    """What this resident needs to bring, what the system looks up, and what is still missing."""
    item = find_item(request.app.ctx.catalog, item_id)
    body = parse_body(request, ChecklistIn)
    entries = personal_checklist(
        request.app.ctx.catalog, item, body.conditions, body.received, received_field="received"
    )
    return json(
        ChecklistOut(
            item_id=item.id,
            entries=[ChecklistEntryOut(id=e.material.id, name=e.material.name, status=e.need) for e in entries],
            missing=[e.material.name for e in entries if e.need is Need.MISSING],
        ).model_dump(mode="json")
    )
