"""Items over the API: the contract list, one item, search by name / alias, eligibility and checklist."""

from __future__ import annotations

from tests.conftest import ELDER_ID, YOUNG_ID, Api


async def test_list_has_the_25_items_with_the_contract_fields(api: Api) -> None:
    response = await api.get("/api/v1/items")
    assert response.status == 200
    items = response.json
    assert len(items) == 25
    for item in items:
        assert {"id", "name", "department", "immediate", "materials"} <= set(item)
        assert all("name" in m for m in item["materials"])
    assert sum(item["immediate"] for item in items) == 12


async def test_list_by_department(api: Api) -> None:
    response = await api.get("/api/v1/items", params={"department": "公安"})
    assert [i["id"] for i in response.json] == [
        "residence_registration",
        "residence_permit",
        "residence_permit_renewal",
    ]
    bad = await api.get("/api/v1/items", params={"department": "交通"})
    assert bad.status == 422 and bad.json["error"]["code"] == "invalid_field"


async def test_get_one_item_with_its_guide(api: Api) -> None:
    response = await api.get("/api/v1/items/birth_registration")
    assert response.status == 200
    item = response.json
    assert item["id_only"] is True and item["immediate"] is True
    assert set(item["guide"]) == {"scope", "accepting_body", "deciding_body", "time_limit", "fee_basis"}
    missing = await api.get("/api/v1/items/passport")
    assert missing.status == 404 and missing.json["error"]["code"] == "unknown_item"
    assert "passport" in missing.json["error"]["message"]


async def test_search_by_alias_fragment_and_near_miss(api: Api) -> None:
    async def top(q: str) -> str | None:
        response = await api.get("/api/v1/items/search", params={"q": q})
        assert response.status == 200
        return response.json[0]["item"]["id"] if response.json else None

    assert await top("老年卡") == "senior_transit_card"
    assert await top("长者卡") == "senior_transit_card"
    assert await top("我想办残疾证") == "disability_certificate"
    assert await top("居住证") == "residence_permit"
    assert await top("老年人优待证") == "elderly_preferential_card"
    assert await top("护照护照护照") is None
    empty = await api.get("/api/v1/items/search", params={"q": ""})
    assert empty.status == 422


async def test_eligibility_by_age_from_the_id_number(api: Api) -> None:
    old = await api.post("/api/v1/items/elderly_preferential_card/eligibility", json={"id_number": ELDER_ID})
    assert old.json["eligible"] is True and old.json["age"] >= 76
    young = await api.post("/api/v1/items/elderly_preferential_card/eligibility", json={"id_number": YOUNG_ID})
    assert young.json["eligible"] is False and young.json["reasons"]
    unknown = await api.post("/api/v1/items/elderly_preferential_card/eligibility", json={})
    assert unknown.json["eligible"] is None


async def test_residence_rule_asks_then_decides(api: Api) -> None:
    asked = await api.post("/api/v1/items/residence_permit/eligibility", json={"id_number": YOUNG_ID})
    assert asked.json["eligible"] is None and asked.json["questions"]
    local = await api.post(
        "/api/v1/items/residence_permit/eligibility",
        json={"id_number": YOUNG_ID, "answers": {"non_local_hukou": False}},
    )
    assert local.json["eligible"] is False and local.json["reasons"]


async def test_checklist_applies_conditions_and_look_ups(api: Api) -> None:
    alone = await api.post("/api/v1/items/birth_registration/checklist", json={})
    statuses = {e["id"]: e["status"] for e in alone.json["entries"]}
    assert statuses["id_card"] == "missing"
    assert "looked_up" in statuses.values()
    assert not any(e["id"].startswith("proxy") for e in alone.json["entries"])
    proxy = await api.post(
        "/api/v1/items/birth_registration/checklist", json={"conditions": ["proxy"], "received": ["id_card"]}
    )
    names = proxy.json["missing"]
    assert any("委托" in n for n in names) and any("代办人" in n for n in names)
    assert "居民身份证" not in names
    bad = await api.post("/api/v1/items/birth_registration/checklist", json={"received": ["passport"]})
    assert bad.status == 422 and bad.json["error"]["code"] == "unknown_material"
    bad = await api.post("/api/v1/items/birth_registration/checklist", json={"conditions": ["rainy_day"]})
    assert bad.status == 422 and bad.json["error"]["code"] == "unknown_condition"


async def test_id_number_check(api: Api) -> None:
    good = await api.post("/api/v1/identity/id-number", json={"id_number": "11010519491231002x"})
    assert good.status == 200 and good.json["id_number"] == ELDER_ID and good.json["sex"] == "女"
    bad = await api.post("/api/v1/identity/id-number", json={"id_number": "110105194912310021"})
    assert bad.status == 422 and bad.json["error"]["code"] == "id_number_checksum"
