"""The admin pages for the catalog's material lists and the opening hours (in-process, on SQLite and PostgreSQL):
who may open them; an edit reaching the items API and new cases but not cases filed before; refused edits storing
nothing; the history with its diffs and restores; a second worker picking an edit up; the opening hours, their API
and `is_open`; the audit trail naming the admin."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from backend.catalog import store
from backend.catalog.schema import Catalog
from backend.models import AuditEntry, CatalogEdit, ClosureDay, OpeningDay
from backend.services import opening_hours
from tests.backend.test_console import Browser, Centre, admin, admin_pages_centre
from tests.conftest import ELDER_ID, make_app, make_id, running

ITEM = "senior_transit_card"  # 长者卡: id_card, photo_1inch, proxy_id_card, power_of_attorney
EDIT_PATH = f"/console/admin/catalog/{ITEM}"
YAML_IDS = ["id_card", "photo_1inch", "proxy_id_card", "power_of_attorney"]
CST = ZoneInfo("Asia/Shanghai")
OTHER_ELDER = make_id(born="19500101")


@pytest.fixture
async def centre(database_url: str, catalog: Catalog) -> AsyncIterator[Centre]:
    async with admin_pages_centre(database_url, catalog) as centre:
        yield centre


class FormReader(HTMLParser):
    """The fields a browser would send from the form of a page that posts to ``action``."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.fields = action, False, {}
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.inside = attr.get("action") == self.action
        elif not self.inside:
            return
        elif tag == "input" and attr.get("type") not in ("submit", "button"):
            if attr.get("type") in ("checkbox", "radio") and "checked" not in attr:
                return
            self.fields[attr["name"]] = attr.get("value", "on")
        elif tag == "select":
            self._select, self._options = attr["name"], []
        elif tag == "option" and self._select:
            self._options.append((attr.get("value", ""), "selected" in attr))
        elif tag == "textarea":
            self._textarea = attr["name"]
            self.fields[self._textarea] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select:
            chosen = [value for value, selected in self._options if selected] or [self._options[0][0]]
            self.fields[self._select], self._select = chosen[0], None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data


async def edit_form(browser: Browser, item_id: str = ITEM) -> dict[str, str]:
    """The item's edit form as the page fills it in."""
    path = f"/console/admin/catalog/{item_id}"
    page = await browser.get(path)
    assert page.status_code == 200, page.text
    reader = FormReader(path)
    reader.feed(page.text)
    return reader.fields


def row_of(form: dict[str, str], material_id: str) -> int:
    return next(int(key[3:]) for key, value in form.items() if key.startswith("id-") and value == material_id)


def new_rows(form: dict[str, str]) -> list[int]:
    return sorted(int(key[4:]) for key in form if key.startswith("new-"))


async def item_materials(centre: Centre, item_id: str = ITEM) -> list[dict]:
    response = await centre.api.get(f"/api/v1/items/{item_id}")
    assert response.status == 200
    return response.json["materials"]


async def edits(centre: Centre) -> list[CatalogEdit]:
    async with centre.api.app.ctx.db.read() as session:
        return list((await session.execute(select(CatalogEdit).order_by(CatalogEdit.id))).scalars())


async def audited(centre: Centre, prefix: str) -> list[AuditEntry]:
    async with centre.api.app.ctx.db.read() as session:
        statement = select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)
        return list((await session.execute(statement)).scalars())


async def edit_senior_card(browser: Browser, reason: str = "依据2026年市民卡中心新规调整") -> dict[str, str]:
    """Rename and recount the photo, drop the power of attorney, add 户口簿 (id left blank) second in the list."""
    form = await edit_form(browser)
    photo, attorney, blank = row_of(form, "photo_1inch"), row_of(form, "power_of_attorney"), new_rows(form)[0]
    form |= {f"name-{photo}": "近期二寸免冠彩色照片", f"count-{photo}": "2", f"remove-{attorney}": "1"}
    form |= {f"name-{blank}": "户口簿", f"order-{blank}": "1.5", f"note-{blank}": "本市户籍的带原件。"}
    form["reason"] = reason
    return form


# --- who may open the pages ------------------------------------------------------------------------------------------
async def test_only_admins_reach_the_catalog_and_hours_pages(centre: Centre) -> None:
    pages = ("/console/admin/catalog", EDIT_PATH, f"{EDIT_PATH}/history", "/console/admin/hours")
    posts = (EDIT_PATH, f"{EDIT_PATH}/restore", "/console/admin/hours", "/console/admin/hours/closures")
    signed_out = centre.browser()
    for path in pages:
        away = await signed_out.get(path, follow_redirects=False)
        assert away.status_code == 302 and away.headers["location"] == f"/console/login?next={path}"
    for path in posts:
        assert (await signed_out.post(path, {"reason": "x", "day": "2026-10-01", "note": "x"})).status_code == 403
    for username in ("qiantai", "minzheng", "shegong"):
        browser = centre.browser()
        await browser.sign_in(username)
        for path in pages:
            refused = await browser.get(path)
            assert refused.status_code == 403 and "没有这个页面的权限" in refused.text
        token = await browser.csrf("/console/cases")
        for path in posts:
            form = {"csrf": token, "rows": "1", "id-0": "id_card", "name-0": "身份证", "form-0": "original"}
            form |= {"reason": "试图修改", "target": "0", "version": "0", "day": "2026-10-01", "note": "国庆"}
            assert (await browser.post(path, form)).status_code == 403
    assert await edits(centre) == []
    async with centre.api.app.ctx.db.read() as session:
        assert (await session.execute(select(func.count()).select_from(ClosureDay))).scalar_one() == 0
        assert (await session.execute(select(func.count()).select_from(OpeningDay))).scalar_one() == 0
    guanli = await admin(centre)
    index = await guanli.get("/console/admin/catalog")
    assert index.status_code == 200 and index.text.count('href="/console/admin/catalog/') >= 25
    assert f'href="{EDIT_PATH}"' in index.text and "未修改（items.yml）" in index.text
    accounts = await guanli.get("/console/admin")
    assert 'href="/console/admin/catalog"' in accounts.text and 'href="/console/admin/hours"' in accounts.text
    forged = await guanli.post(EDIT_PATH, await edit_form(guanli) | {"csrf": "forged", "reason": "x"})
    assert forged.status_code == 403 and await edits(centre) == []


# --- an edit -------------------------------------------------------------------------------------------------------
async def test_an_edit_reaches_the_api_and_new_cases_while_an_earlier_case_keeps_its_materials(centre: Centre) -> None:
    earlier = await centre.file(ITEM, ELDER_ID)
    guanli = await admin(centre)
    saved = await guanli.post(EDIT_PATH, await edit_senior_card(guanli))
    assert saved.status_code == 303 and saved.headers["location"] == f"{EDIT_PATH}?done=saved"
    shown = await guanli.get(saved.headers["location"])
    assert "材料目录已保存" in shown.text and "户口簿" in shown.text and "第 1 版" in shown.text

    materials = await item_materials(centre)
    assert [m["id"] for m in materials] == ["id_card", "hu_kou_bu", "photo_1inch", "proxy_id_card"]
    photo = materials[2]
    assert (photo["name"], photo["count"], photo["note"]) == ("近期二寸免冠彩色照片", 2, "可现场拍照的以窗口为准。")
    assert materials[1] == {
        "id": "hu_kou_bu",
        "name": "户口簿",
        "form": "original",
        "form_label": "原件",
        "count": 1,
        "looked_up": False,
        "condition": None,
        "note": "本市户籍的带原件。",
    }
    listed = next(i for i in (await centre.api.get("/api/v1/items")).json if i["id"] == ITEM)
    assert [m["id"] for m in listed["materials"]] == [m["id"] for m in materials]
    checklist = await centre.api.post(f"/api/v1/items/{ITEM}/checklist", json={"conditions": [], "received": []})
    assert checklist.json["missing"] == ["居民身份证", "户口簿", "近期二寸免冠彩色照片"]

    later = await centre.file(ITEM, OTHER_ELDER)
    old_case, new_case = [await centre.api.get(f"/api/v1/cases/{number}") for number in (earlier, later)]
    assert [(m["id"], m["name"]) for m in old_case.json["materials"]] == [
        ("id_card", "居民身份证"),
        ("photo_1inch", "近期一寸免冠彩色照片"),
    ]
    assert [m["name"] for m in new_case.json["materials"]] == ["居民身份证", "户口簿", "近期二寸免冠彩色照片"]
    front = centre.browser()
    await front.sign_in("qiantai")  # the earlier case is still worked with the materials it was filed with
    accepted = await front.act(
        earlier, "accepted", **{"material:id_card": "received", "material:photo_1inch": "received"}
    )
    assert accepted.status_code == 303 and await centre.status(earlier) == "accepted"

    [edit] = await edits(centre)
    assert (edit.item_id, edit.version, edit.actor, edit.restored_from) == (ITEM, 1, "guanli", None)
    assert edit.note == "依据2026年市民卡中心新规调整"
    assert [m["id"] for m in edit.before] == YAML_IDS and [m["id"] for m in edit.after] == [m["id"] for m in materials]
    [entry] = await audited(centre, "catalog.")
    assert (entry.actor, entry.action, entry.entity, entry.entity_id) == ("guanli", "catalog.edit", "item", ITEM)
    assert entry.detail["added"] == ["hu_kou_bu"] and entry.detail["removed"] == ["power_of_attorney"]
    assert entry.detail["changed"] == ["photo_1inch"] and entry.detail["change"] == edit.id


async def test_invalid_edits_are_refused_in_chinese_and_store_nothing(centre: Centre) -> None:
    guanli = await admin(centre)
    form = await edit_form(guanli)
    photo, blank = row_of(form, "photo_1inch"), new_rows(form)[0]
    reason = {"reason": "测试"}
    refusals = [
        ({f"name-{photo}": "  "}, "第 2 项材料的名称不能为空"),
        ({f"name-{blank}": "身份证复印件", f"id-{blank}": "id_card"}, "材料编号“id_card”重复了"),
        ({f"name-{blank}": "租房合同", f"id-{blank}": "Zu-Fang"}, "编号只能用小写英文字母、数字和下划线"),
        ({f"count-{photo}": "0"}, "份数须在 1 到 20 之间"),
        ({f"count-{photo}": "两"}, "“份数”格式不正确"),
        ({f"condition-{photo}": "no_such_condition"}, "适用情形"),
        ({f"name-{photo}": "照" * 101}, "名称太长了"),
        ({f"remove-{row_of(form, m)}": "1" for m in YAML_IDS}, "至少要有一项材料"),
        ({f"name-{photo}": "新名称", "reason": "  "}, "请写明修改原因"),
        ({}, "与当前内容相同"),
    ]
    for change, message in refusals:
        refused = await guanli.post(EDIT_PATH, form | reason | change)
        assert refused.status_code == 422 and message in refused.text, (change, refused.text[:2000])
    kept = await guanli.post(EDIT_PATH, form | reason | {f"name-{blank}": "身份证复印件", f"id-{blank}": "id_card"})
    assert 'value="身份证复印件"' in kept.text and "测试" in kept.text  # the form comes back as typed

    id_only = await edit_form(guanli, "elderly_preferential_card")  # 凭身份证即可办理
    photo_row = row_of(id_only, "photo")
    del id_only[f"looked_up-{photo_row}"]  # the photo would have to be brought: two materials to bring
    refused = await guanli.post("/console/admin/catalog/elderly_preferential_card", id_only | reason)
    assert refused.status_code == 422 and "凭身份证即可办理的事项" in refused.text

    assert await edits(centre) == [] and await audited(centre, "catalog.") == []
    assert [m["id"] for m in await item_materials(centre)] == YAML_IDS
    assert (await guanli.get("/console/admin/catalog/no_such_item")).status_code == 404


# --- history and restore -------------------------------------------------------------------------------------------
async def test_the_history_shows_each_diff_and_a_restore_is_a_new_change(centre: Centre) -> None:
    guanli = await admin(centre)
    assert (await guanli.post(EDIT_PATH, await edit_senior_card(guanli))).status_code == 303
    second = await edit_form(guanli)
    assert second["version"] == "1"
    second |= {f"note-{row_of(second, 'id_card')}": "须在有效期内。", "reason": "补充说明"}
    second[f"order-{row_of(second, 'proxy_id_card')}"] = "0"  # moved to the top
    assert (await guanli.post(EDIT_PATH, second)).status_code == 303
    replayed = await guanli.post(EDIT_PATH, second | {"reason": "同一张旧表单再提交一次"})  # drawn at version 1
    assert replayed.status_code == 409 and "刚被其他管理员修改过" in replayed.text

    page = await guanli.get(f"{EDIT_PATH}/history")
    assert page.status_code == 200
    text = page.text
    assert text.index("第 2 版") < text.index("第 1 版")  # newest first
    for expected in (
        "新增：户口簿",
        "删除：授权委托书",
        "修改：近期二寸免冠彩色照片",
        "名称“近期一寸免冠彩色照片”→“近期二寸免冠彩色照片”",
        "份数“1”→“2”",
        "说明“—”→“须在有效期内。”",
        "调整了材料顺序",
        "依据2026年市民卡中心新规调整",
        "补充说明",
        "guanli",
    ):
        assert expected in text, expected

    stale = await guanli.post(
        f"{EDIT_PATH}/restore", {"csrf": await guanli.csrf(), "target": "0", "version": "1", "reason": "旧表单"}
    )
    assert stale.status_code == 409 and "刚被其他管理员修改过" in stale.text
    no_reason = await guanli.post(f"{EDIT_PATH}/restore", {"csrf": await guanli.csrf(), "target": "0", "version": "2"})
    assert no_reason.status_code == 422 and "请写明修改原因" in no_reason.text
    assert len(await edits(centre)) == 2

    back = await guanli.post(
        f"{EDIT_PATH}/restore", {"csrf": await guanli.csrf(), "target": "0", "version": "2", "reason": "新规暂缓执行"}
    )
    assert back.status_code == 303 and "已恢复" in (await guanli.get(back.headers["location"])).text
    assert [m["id"] for m in await item_materials(centre)] == YAML_IDS
    first, _, restored = await edits(centre)
    assert (restored.version, restored.restored_from, restored.note) == (3, store.YAML_VERSION, "新规暂缓执行")
    again = await guanli.post(
        f"{EDIT_PATH}/restore", {"csrf": await guanli.csrf(), "target": str(first.id), "version": "3", "reason": "恢复"}
    )
    assert again.status_code == 303
    assert [m["id"] for m in await item_materials(centre)] == [m["id"] for m in first.after]
    history = (await guanli.get(f"{EDIT_PATH}/history")).text
    assert "恢复为 items.yml 原始版本" in history and f"恢复为第 {first.id} 号修改后的版本" in history
    actions = [(e.actor, e.action, e.detail.get("restored_from")) for e in await audited(centre, "catalog.")]
    assert actions == [
        ("guanli", "catalog.edit", None),
        ("guanli", "catalog.edit", None),
        ("guanli", "catalog.restore", 0),
        ("guanli", "catalog.restore", first.id),
    ]


async def test_a_second_worker_sees_an_edit_within_its_refresh_interval(
    centre: Centre, database_url: str, catalog: Catalog
) -> None:
    async with running(make_app(database_url, catalog, notifier_enabled=False)) as other:
        live = other.app.ctx.live_catalog
        assert live.interval == store.REFRESH_INTERVAL_S <= 1.0
        assert [m["id"] for m in (await other.get(f"/api/v1/items/{ITEM}")).json["materials"]] == YAML_IDS
        checked = live.checked_at
        await other.get("/api/v1/health")
        assert live.checked_at == checked  # within the interval the database is not asked again
        guanli = await admin(centre)
        assert (await guanli.post(EDIT_PATH, await edit_senior_card(guanli))).status_code == 303
        await asyncio.sleep(store.REFRESH_INTERVAL_S + 0.1)
        materials = (await other.get(f"/api/v1/items/{ITEM}")).json["materials"]
        assert [m["id"] for m in materials] == ["id_card", "hu_kou_bu", "photo_1inch", "proxy_id_card"]
        filed = await other.post(
            "/api/v1/cases",
            json={
                "item_id": ITEM,
                "resident": {"id_number": ELDER_ID, "name": "王秀英"},
                "channel": "counter",
            },
        )
        assert filed.status == 201 and [m["id"] for m in filed.json["materials"]] == [
            "id_card",
            "hu_kou_bu",
            "photo_1inch",
        ]


# --- opening hours -------------------------------------------------------------------------------------------------
def hours_form(page: str) -> dict[str, str]:
    reader = FormReader("/console/admin/hours")
    reader.feed(page)
    return reader.fields


async def test_opening_hours_are_edited_and_returned_by_the_api(centre: Centre) -> None:
    centre.api.set_today(dt.date(2026, 9, 30))  # a Wednesday
    defaults = (await centre.api.get("/api/v1/opening-hours")).json
    assert defaults["defaults"] is True and defaults["timezone"] == "Asia/Shanghai"
    assert defaults["summary"] == "周一至周五 08:30–12:00、13:30–17:00；周六、周日 休息"
    monday, saturday = defaults["week"][0], defaults["week"][5]
    assert (monday["weekday"], monday["name"], monday["open"]) == (1, "周一", True)
    assert [(s["label"], s["start"], s["end"]) for s in monday["sessions"]] == [
        ("上午", "08:30", "12:00"),
        ("下午", "13:30", "17:00"),
    ]
    assert (saturday["open"], saturday["sessions"], saturday["text"]) == (False, [], "休息")
    assert defaults["today"]["text"] == "08:30–12:00、13:30–17:00" and defaults["today"]["open"] is True

    guanli = await admin(centre)
    page = await guanli.get("/console/admin/hours")
    assert page.status_code == 200 and "今日办公时间" in page.text and "使用默认时间" in page.text
    form = hours_form(page.text)
    assert form["morning_start-1"] == "08:30" and "open-6" not in form
    form |= {"open-6": "1", "morning_start-6": "09:00", "morning_end-6": "12:00"}  # Saturday mornings
    form |= {"afternoon_start-3": "14:00", "afternoon_end-3": "17:30"}  # Wednesday afternoons later
    saved = await guanli.post("/console/admin/hours", form)
    assert saved.status_code == 303 and "已保存" in (await guanli.get(saved.headers["location"])).text
    hours = (await centre.api.get("/api/v1/opening-hours")).json
    assert hours["defaults"] is False and hours["summary"] == (
        "周一、周二 08:30–12:00、13:30–17:00；周三 08:30–12:00、14:00–17:30；周四、周五 08:30–12:00、13:30–17:00；"
        "周六 09:00–12:00；周日 休息"
    )
    assert hours["week"][5]["text"] == "09:00–12:00" and hours["week"][2]["text"] == "08:30–12:00、14:00–17:30"
    assert hours["today"]["text"] == "08:30–12:00、14:00–17:30"

    refusals = [
        ({"morning_start-1": "12:00", "morning_end-1": "08:30"}, "周一上午的开始时间要早于结束时间"),
        ({"morning_end-2": ""}, "周二上午要同时填写开始和结束时间"),
        ({"morning_end-4": "14:00"}, "周四上午的结束时间不能晚于下午的开始时间"),
        ({"morning_start-7": "", "open-7": "1"}, "周日设为办公，但上午和下午都没有填写时间"),
        ({"afternoon_start-5": "25:00"}, "格式不正确"),
    ]
    for change, message in refusals:
        refused = await guanli.post("/console/admin/hours", form | change)
        assert refused.status_code == 422 and message in refused.text, message
    kept = await guanli.post("/console/admin/hours", form | refusals[0][0])
    assert 'name="morning_start-1" value="12:00"' in kept.text  # the form comes back as typed
    assert (await centre.api.get("/api/v1/opening-hours")).json == hours

    token = await guanli.csrf("/console/admin/hours")
    no_note = await guanli.post("/console/admin/hours/closures", {"csrf": token, "day": "2026-10-01", "note": " "})
    assert no_note.status_code == 422 and "请写明休息的原因" in no_note.text
    bad_day = await guanli.post("/console/admin/hours/closures", {"csrf": token, "day": "十月一日", "note": "国庆"})
    assert bad_day.status_code == 422 and "请选择休息的日期" in bad_day.text
    for day in ("2026-10-01", "2026-10-02"):
        added = await guanli.post("/console/admin/hours/closures", {"csrf": token, "day": day, "note": "国庆节"})
        assert added.status_code == 303
    closures = (await centre.api.get("/api/v1/opening-hours")).json["closures"]
    assert closures == [{"date": "2026-10-01", "note": "国庆节"}, {"date": "2026-10-02", "note": "国庆节"}]
    removed = await guanli.post("/console/admin/hours/closures/2026-10-02/delete", {"csrf": token})
    assert removed.status_code == 303
    assert (await guanli.post("/console/admin/hours/closures/2026-10-02/delete", {"csrf": token})).status_code == 404
    centre.api.set_today(dt.date(2026, 10, 1))
    today = (await centre.api.get("/api/v1/opening-hours")).json["today"]
    assert today == {
        "date": "2026-10-01",
        "open": False,
        "open_now": False,
        "sessions": [],
        "text": "休息（国庆节）",
        "closure_note": "国庆节",
    }

    entries = await audited(centre, "hours.")
    assert [(e.actor, e.action, e.entity_id) for e in entries] == [
        ("guanli", "hours.week", "week"),
        ("guanli", "hours.closure_add", "2026-10-01"),
        ("guanli", "hours.closure_add", "2026-10-02"),
        ("guanli", "hours.closure_remove", "2026-10-02"),
    ]
    assert entries[0].detail["changed"] == {
        "周三": {"before": "08:30–12:00、13:30–17:00", "after": "08:30–12:00、14:00–17:30"},
        "周六": {"before": "休息", "after": "09:00–12:00"},
    }
    document = (await centre.api.get("/api/v1/openapi.json")).json
    assert "get" in document["paths"]["/api/v1/opening-hours"]
    assert "OpeningHoursOut" in document["components"]["schemas"]


async def test_is_open_on_a_weekday_a_weekend_and_a_closure_day(centre: Centre) -> None:
    db = centre.api.app.ctx.db

    def at(day: str, clock: str) -> dt.datetime:
        return dt.datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=CST)

    wednesday, thursday, saturday = "2026-11-25", "2026-11-26", "2026-11-28"
    assert await opening_hours.is_open(db, at(wednesday, "10:00"))
    assert await opening_hours.is_open(db, at(wednesday, "08:30")) and await opening_hours.is_open(
        db, at(wednesday, "16:59")
    )
    for clock in ("08:29", "12:00", "12:30", "17:00", "20:00"):
        assert not await opening_hours.is_open(db, at(wednesday, clock)), clock
    assert await opening_hours.is_open(db, dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC))  # 10:00 in Hangzhou
    assert await opening_hours.is_open(db, dt.datetime(2026, 11, 25, 10, 0))  # naive: the centre's own time
    assert not await opening_hours.is_open(db, at(saturday, "10:00"))
    assert await opening_hours.is_open(db, at(thursday, "10:00"))
    await opening_hours.add_closure(db, dt.date(2026, 11, 26), "区里统一停电检修", actor="guanli")
    assert not await opening_hours.is_open(db, at(thursday, "10:00"))
    assert await opening_hours.is_open(db, at(wednesday, "10:00"))
    saturday_open = opening_hours.check_day(6, True, (dt.time(9), dt.time(12)), (None, None))
    week = list(opening_hours.DEFAULT_WEEK)
    week[5] = saturday_open
    assert await opening_hours.save_week(db, week, actor="guanli")
    assert await opening_hours.is_open(db, at(saturday, "10:00"))
    assert not await opening_hours.is_open(db, at(saturday, "14:00"))
    assert not await opening_hours.save_week(db, week, actor="guanli")  # the same week again: nothing written
