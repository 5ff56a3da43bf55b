"""Whose case is whose (backend.services.case_access): the lookup route of the actions and the /follow/case form
give a case only to its owner, answer every failure alike, and lock a case after a few wrong codes."""

from __future__ import annotations

from backend.services.case_access import MAX_WRONG_CODES, proof_from_code
from tests.conftest import Api, case_body

OPENID = "oFollower000000000000000001"


async def _lookup(api: Api, **body: str) -> tuple[int, dict]:
    answer = await api.post("/api/v1/cases/lookup", json=body, service="actions")
    return answer.status, answer.json


async def test_the_owner_is_told_and_nobody_else_learns_anything(api: Api) -> None:
    filed = (await api.post("/api/v1/cases", json=case_body(wechat_openid=OPENID))).json
    number = filed["case_number"]
    by_phone = await _lookup(api, case_number=number, code="5678")
    by_receipt = await _lookup(api, case_number=number.lower(), code=filed["receipt_code"])
    by_follower = await _lookup(api, case_number=number, wechat_openid=OPENID)
    for status, found in (by_phone, by_receipt, by_follower):
        assert status == 200 and [c["case_number"] for c in found["cases"]] == [number]
    assert len(filed["receipt_code"]) == 6 and filed["receipt_code"].isdigit()

    unknown = await _lookup(api, case_number="JJ-20200101-0001", code="5678")
    wrong = await _lookup(api, case_number=number, code="1234")
    bare = await _lookup(api, case_number=number)
    other_follower = await _lookup(api, case_number=number, wechat_openid="oSomeoneElse0000000000000001")
    assert unknown == wrong == bare == other_follower  # one answer: no way to tell which numbers exist
    assert unknown[0] == 404 and unknown[1]["error"]["code"] == "case_not_found"
    assert filed["item_name"] not in str(unknown)


async def test_a_follower_without_a_number_gets_their_own_cases_only(api: Api) -> None:
    mine = (await api.post("/api/v1/cases", json=case_body(wechat_openid=OPENID))).json["case_number"]
    await api.post("/api/v1/cases", json=case_body())  # the same resident at the counter: not on this WeChat
    status, found = await _lookup(api, wechat_openid=OPENID)
    assert status == 200 and [c["case_number"] for c in found["cases"]] == [mine]
    status, none = await _lookup(api, wechat_openid="oNobody00000000000000000001")
    assert status == 200 and none["cases"] == []
    status, refused = await _lookup(api)
    assert status == 422 and refused["error"]["field"] == "case_number"


async def test_wrong_codes_lock_the_case_for_the_day_even_to_the_right_code(api: Api) -> None:
    filed = (await api.post("/api/v1/cases", json=case_body(wechat_openid=OPENID))).json
    number = filed["case_number"]
    for guess in range(MAX_WRONG_CODES):
        status, _ = await _lookup(api, case_number=number, code=f"{guess:04d}")
        assert status == 404
    assert (await _lookup(api, case_number=number, code="5678"))[0] == 404
    assert (await _lookup(api, case_number=number, code=filed["receipt_code"]))[0] == 404
    # The follower who filed is not guessing: WeChat still answers them.
    assert (await _lookup(api, case_number=number, wechat_openid=OPENID))[0] == 200
    other = (await api.post("/api/v1/cases", json=case_body())).json["case_number"]
    assert (await _lookup(api, case_number=other, code="5678"))[0] == 200  # one case's lock is its own


def test_one_answer_says_which_code_it_is() -> None:
    assert proof_from_code(" 5678 ").phone_last4 == "5678"
    assert proof_from_code("13812345678").phone_last4 == "5678"
    assert proof_from_code("042917").receipt_code == "042917"
    assert proof_from_code("").has_code is False and proof_from_code("12").has_code is True


async def test_the_follow_page_asks_for_the_number_and_a_code(api: Api) -> None:
    filed = (await api.post("/api/v1/cases", json=case_body())).json
    number = filed["case_number"]
    form = await api.get(f"/follow/case/{number}", service=None)
    assert form.status == 200 and "手机号后四位" in form.text and filed["item_name"] not in form.text
    assert f'value="{number}"' in form.text
    assert (await api.get("/follow/case", service=None)).status == 200

    async def submit(code: str):
        return await api.post("/follow/case", data={"case_number": number, "code": code}, service=None)

    wrong = await submit("0000")
    unknown = await api.post("/follow/case", data={"case_number": "JJ-20200101-0001", "code": "5678"}, service=None)
    assert wrong.status == unknown.status == 404 and filed["item_name"] not in wrong.text
    assert wrong.text.replace(number, "") == unknown.text.replace("JJ-20200101-0001", "")
    shown = await submit("5678")
    assert shown.status == 200 and filed["item_name"] in shown.text and "待受理" in shown.text
    assert "王秀英" not in shown.text and "5678" not in shown.text
    assert (await submit(filed["receipt_code"])).status == 200
    foreign = await api.post(
        "/follow/case",
        data={"case_number": number, "code": "5678"},
        headers={"Origin": "https://evil.example"},
        service=None,
    )
    assert foreign.status == 403 and filed["item_name"] not in foreign.text


def test_the_receipt_prints_the_code_beside_its_qr_code() -> None:
    import datetime as dt

    from devices import receipts
    from printing.documents import AcceptanceReceipt

    moment = dt.datetime(2026, 11, 26, 1, tzinfo=dt.UTC)
    case = {
        "case_number": "JJ-20261126-0007",
        "item_name": "浙江省居住证申领",
        "resident_name": "王秀英",
        "resident_id_number": "330106********121X",
        "immediate": True,
        "receipt_code": "042917",
    }
    receipt = AcceptanceReceipt(**case, issued_at=moment, accepted_at=moment, follow_url="https://jiujin.example/f")
    printed = receipts.render(receipt)
    assert "查询码：042917".encode("gb18030") in printed
