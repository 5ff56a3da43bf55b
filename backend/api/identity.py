"""Check a resident ID number the way the backend will (checksum, date, area), for channels that ask for one."""

from __future__ import annotations

from sanic import Blueprint, Request, json

from backend.api.common import parse_body, today
from backend.api.openapi import operation
from backend.api.schemas import IdNumberCheckIn, IdNumberCheckOut
from vocabulary.id_numbers import age_on, is_male

identity = Blueprint("identity", url_prefix="/api/v1/identity")


@identity.post("/id-number")
@operation("核验身份证号码", tag="identity", body=IdNumberCheckIn, responses={200: IdNumberCheckOut})
async def check_id_number(request: Request):
    """200 with age and sex for a valid number; 422 with the reason in Chinese otherwise."""
    number = parse_body(request, IdNumberCheckIn).id_number
    return json(
        IdNumberCheckOut(
            id_number=number, age=age_on(number, today(request)), sex="男" if is_male(number) else "女"
        ).model_dump(mode="json")
    )
