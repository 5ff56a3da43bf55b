"""The pages behind the QR codes: a ticket's place in the queue, and a case's status behind a signed link."""

from __future__ import annotations

from tests.backend.test_api_queue import call, take
from tests.conftest import Api, case_body


async def test_a_tickets_page_shows_its_place_then_its_window(api: Api) -> None:
    first, second = await take(api), await take(api)
    page = await api.get(f"/follow/ticket/{second['service_day']}/{second['number']}")
    assert page.status == 200 and "前面还有 1 人" in page.text and "大约还要" in page.text
    assert 'http-equiv="refresh"' in page.text
    await call(api, 4)
    await call(api, 2)
    called = await api.get(f"/follow/ticket/{second['service_day']}/{second['number'].lower()}")
    assert "请到 2 号窗口" in called.text
    missing = await api.get(f"/follow/ticket/{first['service_day']}/Z999")
    assert missing.status == 404 and "没有找到这个号码" in missing.text
    assert (await api.get("/follow/ticket/not-a-day/A001")).status == 404


async def test_a_cases_page_needs_the_signed_link_from_its_receipt(api: Api) -> None:
    filed = (await api.post("/api/v1/cases", json=case_body())).json
    assert filed["follow_path"].startswith(f"/follow/case/{filed['case_number']}?k=")
    page = await api.get(filed["follow_path"])
    assert page.status == 200 and filed["item_name"] in page.text and "待受理" in page.text
    assert "王秀英" not in page.text and "1949" not in page.text  # no personal data on the page
    guessed = await api.get(f"/follow/case/{filed['case_number']}")
    forged = await api.get(f"/follow/case/{filed['case_number']}?k=00000000000000000000")
    assert forged.status == 404 and filed["item_name"] not in forged.text and "链接无效" in forged.text
    # Without the link: a form asks for the phone's last four digits or the 查询码 (see test_case_access.py).
    assert filed["item_name"] not in guessed.text and "查询码" in guessed.text and "查询码" in forged.text
