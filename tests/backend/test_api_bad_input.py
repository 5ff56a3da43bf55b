"""Bad input of every kind gets a 4xx with a machine code and a Chinese message, never a 500."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Api, case_body


def assert_error(response, status: int, code: str | None = None) -> None:
    assert response.status == status, (response.status, response.json)
    error = response.json["error"]
    assert error["message"] and any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), error
    if code:
        assert error["code"] == code, error


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"item_id": "passport"}, "unknown_item", None),
        ({"item_id": "Passport!"}, "invalid_field", "item_id"),
        ({"channel": "fax"}, "invalid_field", "channel"),
        ({"materials_received": ["magic_paper"]}, "unknown_material", "materials_received"),
        ({"resident": {"name": "张三", "id_number": "110105194912310021"}}, "id_number_checksum", "resident.id_number"),
        ({"resident": {"name": "张三", "id_number": "12345"}}, "id_number_length", "resident.id_number"),
        (
            {"resident": {"name": "张三", "id_number": "11010519491231002X", "phone": "12345"}},
            "phone_invalid",
            "resident.phone",
        ),
        ({"resident": {"name": "", "id_number": "11010519491231002X"}}, "invalid_field", "resident.name"),
        ({"resident": {"name": "张" * 51, "id_number": "11010519491231002X"}}, "invalid_field", "resident.name"),
        ({"resident": {"id_number": "11010519491231002X"}}, "invalid_field", "resident.name"),
        ({"resident": "张三"}, "invalid_field", "resident"),
        ({"surprise": 1}, "invalid_field", "surprise"),
        ({"materials_received": "id_card"}, "invalid_field", "materials_received"),
        ({"materials_received": ["id_card"] * 31}, "invalid_field", "materials_received"),
        ({"wechat_openid": "<script>"}, "invalid_field", "wechat_openid"),
    ],
)
async def test_bad_case_submissions(api: Api, change: dict, code: str, field: str | None) -> None:
    response = await api.post("/api/v1/cases", json=case_body() | change)
    status = 404 if code == "unknown_item" else 422
    assert_error(response, status, code)
    if field:
        assert response.json["error"]["field"] == field


async def test_messages_name_the_field_in_chinese(api: Api) -> None:
    response = await api.post("/api/v1/cases", json=case_body() | {"resident": {"id_number": "11010519491231002X"}})
    assert "姓名" in response.json["error"]["message"]


async def test_broken_bodies_and_headers(api: Api) -> None:
    headers = {"content-type": "application/json"}
    assert_error(await api.post("/api/v1/cases", content=b"{not json", headers=headers), 400, "invalid_json")
    assert_error(await api.post("/api/v1/cases", content=b"[1,2]", headers=headers), 422, "body_not_object")
    assert_error(await api.post("/api/v1/cases", content=b"\xff\xfe", headers=headers), 400, "invalid_json")
    assert_error(await api.post("/api/v1/cases", json={}), 422, "invalid_field")
    huge = json.dumps(case_body() | {"padding": "x" * 400_000}).encode()
    assert_error(await api.post("/api/v1/cases", content=huge, headers=headers), 413, "payload_too_large")
    bad_key = await api.post("/api/v1/cases", json=case_body(), headers={"Idempotency-Key": "has space/slash"})
    assert_error(bad_key, 400, "invalid_idempotency_key")
    bad_actor = await api.post("/api/v1/queue/tickets", json={}, headers={"X-Actor": "x" * 65})
    assert_error(bad_actor, 400, "invalid_actor")


async def test_unknown_routes_methods_and_parameters(api: Api) -> None:
    assert_error(await api.get("/api/v1/nothing"), 404, "not_found")
    assert_error(await api.request("delete", "/api/v1/items"), 405, "method_not_allowed")
    assert_error(await api.get("/api/v1/cases", params={"limit": "many"}), 422, "invalid_field")
    assert_error(await api.get("/api/v1/cases", params={"limit": "100000"}), 422, "invalid_field")
    assert_error(await api.get("/api/v1/cases", params={"id_number": "123"}), 422, "id_number_length")
    assert_error(await api.get("/api/v1/queue/tickets/A001", params={"day": "yesterday"}), 422, "invalid_field")
    assert_error(await api.post("/api/v1/queue/tickets", json={"category": "Z"}), 422, "invalid_field")
    assert_error(await api.post("/api/v1/queue/tickets", json={"channel": "proxy"}), 422, "invalid_field")
    assert_error(await api.post("/api/v1/cases/JJ-1/transitions", json={"to": "flying"}), 422, "invalid_field")
    assert_error(await api.get("/api/v1/items/search", params={"q": "长" * 51}), 422, "invalid_field")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
paths = st.sampled_from(
    [
        "/api/v1/cases",
        "/api/v1/queue/tickets",
        "/api/v1/print-jobs",
        "/api/v1/print-jobs/claim",
        "/api/v1/items/birth_registration/checklist",
        "/api/v1/items/residence_permit/eligibility",
        "/api/v1/cases/JJ-20261126-0001/transitions",
        "/api/v1/print-jobs/1/status",
    ]
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=paths,
    body=st.dictionaries(
        st.sampled_from(
            [
                "item_id",
                "resident",
                "channel",
                "category",
                "kind",
                "printer",
                "to",
                "status",
                "conditions",
                "received",
                "id_number",
                "answers",
                "payload",
                "materials_received",
                "proxy",
                "x",
            ]
        ),
        json_values,
        max_size=5,
    ),
)
async def test_random_bodies_never_cause_a_server_error(sqlite_api: Api, path: str, body: dict) -> None:
    response = await sqlite_api.post(path, json=body)
    assert response.status < 500, (path, body, response.json)
    if response.status >= 400:
        assert response.json["error"]["code"]


async def test_unknown_condition_is_refused_when_filing_as_in_the_checklist(api: Api) -> None:
    response = await api.post("/api/v1/cases", json=case_body(conditions=["rainy_day"]))
    assert_error(response, 422, "unknown_condition")
    assert response.json["error"]["field"] == "conditions"


async def test_found_by_fuzzing_print_jobs(api: Api) -> None:
    """Schemathesis found these 500s: an empty case number broke the foreign key, a huge id overflowed SQLite."""
    empty_case = await api.post("/api/v1/print-jobs", json={"kind": "ticket", "case_number": ""})
    assert_error(empty_case, 404, "unknown_case")
    huge = 124668479954167463189035605886366646272
    assert_error(await api.get(f"/api/v1/print-jobs/{huge}"), 404, "unknown_print_job")
    assert_error(await api.post(f"/api/v1/print-jobs/{2**63}/sent"), 404, "unknown_print_job")
    assert_error(await api.post(f"/api/v1/print-jobs/{2**31}/status", json={"status": "printed"}), 404)
