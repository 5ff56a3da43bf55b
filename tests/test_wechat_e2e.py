"""End to end over WeChat: the simulator (playing WeChat's servers and its API) and the real stack — backend, action
server and Rasa with the WeChat channel in safe (AES) mode, its shared state in Redis as in production — as
separate processes. (The webhook's unit tests use the embedded SQLite state.)"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devices.printer_worker import PrinterWorker, SerialPrinter
from harness.dialogue import DialogueStack
from security.tokens import bearer_headers
from simulators.devices.printer import PrinterSimulator
from simulators.wechat.wechat_server import WeChatServer
from tests.chromium import launched_chromium
from tests.conftest import DIALOGUE_ENV, YOUNG_ID, SharedDialogue
from tests.waiting import wait_for
from wechat.inbound import VOICE_NOT_UNDERSTOOD
from wechat.settings import WeChatSettings
from wechat.webhook import ACKNOWLEDGEMENT

NE_AMR = Path(__file__).parent / "wechat" / "data" / "ne.amr"
"""espeak-ng's Korean "네" as a WeChat voice note (AMR-NB); see tests/wechat/test_transcode.py."""


@dataclass(frozen=True)
class WeChatStack:
    stack: DialogueStack
    simulator: str
    webhook: str
    settings: WeChatSettings
    database: Path

    def say(self, openid: str, text: str) -> dict[str, Any]:
        return self.send({"openid": openid, "type": "text", "content": text})

    def send(self, message: dict[str, Any]) -> dict[str, Any]:
        return httpx.post(f"{self.simulator}/simulator/messages", json=message, timeout=30).json()

    def outbound(self, openid: str) -> list[dict[str, Any]]:
        return httpx.get(f"{self.simulator}/simulator/outbound", params={"openid": openid}, timeout=10).json()["calls"]

    def user_turns(self, openid: str, text: str) -> int:
        tracker = httpx.get(self.stack.tracker(openid), timeout=10).json()
        return sum(1 for e in tracker["events"] if e["event"] == "user" and e.get("text") == text)


def _with_descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(p for child in children for p in _with_descendants(int(child)))]


def _wait_for(wechat: WeChatStack, openid: str, api: str, within_s: float = 30) -> dict[str, Any]:
    """The first successful call of ``api`` to ``openid`` that the WeChat API stand-in records."""

    def first_call() -> dict[str, Any] | None:
        return next((c for c in wechat.outbound(openid) if c["api"] == api and c["errcode"] == 0), None)

    return wait_for(first_call, within_s, what=f"a successful {api} to {openid}", every_s=0.2)


def _shown(delivery: dict[str, Any]) -> str:
    return str(delivery.get("shown_to_user") or "")


@pytest.fixture(scope="module")
def wechat(shared_dialogue: SharedDialogue) -> WeChatStack:
    """The run's shared dialogue stack, with the WeChat side's view of it."""
    stack, simulator = shared_dialogue.stack, shared_dialogue.simulator
    settings = WeChatSettings.from_env(DIALOGUE_ENV | {"WECHAT_API_BASE_URL": f"{simulator}/cgi-bin/"})
    return WeChatStack(stack, simulator, shared_dialogue.webhook, settings, shared_dialogue.database)


def test_a_follower_files_a_case_over_encrypted_wechat(wechat: WeChatStack) -> None:
    openid = f"o{uuid.uuid4().hex[:27]}"
    welcome = wechat.send({"openid": openid, "type": "event", "event": "subscribe"})
    assert "感谢关注" in _shown(welcome) and "1. 医保" in _shown(welcome)
    item = wechat.say(openid, "我想办居住证")
    assert item["attempts"][0]["status"] == 200 and len(item["attempts"]) == 1
    assert "浙江省居住证申领" in _shown(item) and "直接网上预约办理" in _shown(item)
    assert "姓名" in _shown(wechat.say(openid, "4"))
    assert "身份证" in _shown(wechat.say(openid, "王秀英"))
    assert "手机" in _shown(wechat.say(openid, YOUNG_ID))
    assert "社区" in _shown(wechat.say(openid, "13812345678"))
    filed = _shown(wechat.say(openid, "骆家庄社区"))
    number = filed.split("办件编号是 ")[1][:16]
    case = httpx.get(f"{wechat.stack.backend}/api/v1/cases/{number}", headers=bearer_headers("tools")).json()
    assert case["channel"] == "wechat" and case["resident_name"] == "王秀英"
    with sqlite3.connect(wechat.database) as db:
        assert db.execute("SELECT wechat_openid FROM cases WHERE case_number = ?", (number,)).fetchone() == (openid,)

    # Staff accept the case: the backend tells the follower by template message through the WeChat API.
    accepted = httpx.post(
        f"{wechat.stack.backend}/api/v1/cases/{number}/transitions",
        headers=bearer_headers("tools"),
        json={"to": "accepted"},
    )
    assert accepted.status_code == 200, accepted.text
    notice = _wait_for(wechat, openid, "template_send")
    assert notice["body"]["template_id"] == "tpl-case-accepted" and notice["body"]["touser"] == openid
    assert notice["body"]["data"]["keyword1"]["value"] == number
    assert "预计" in notice["body"]["data"]["keyword4"]["value"]


def test_three_deliveries_of_one_message_are_one_turn_and_one_case(wechat: WeChatStack) -> None:
    openid = f"o{uuid.uuid4().hex[:27]}"
    for text in ("我想办居住证", "4", "李建国", YOUNG_ID, "13912345678"):
        wechat.say(openid, text)
    server = WeChatServer(wechat.webhook, wechat.settings)
    last_words = "翠苑一区社区"
    xml = server.build_xml(openid, "text", Content=last_words, MsgId=server.new_msg_id())
    answers = []
    for _ in range(3):  # WeChat's retries: the same MsgId, freshly signed each time
        body, query = server.envelope(xml, openid)
        response = httpx.post(wechat.webhook, params=query, content=body, timeout=10)
        answers.append(server.read_reply(response.content, openid))
    assert answers[0] is not None and "办件编号是" in answers[0]["Content"]
    # The same passive answer each time; only CreateTime may differ, as each reply is rendered when it is sent.
    same = [{k: v for k, v in a.items() if k != "CreateTime"} for a in answers if a is not None]
    assert len(same) == 3 and all(a == same[0] for a in same)
    assert wechat.user_turns(openid, last_words) == 1
    with sqlite3.connect(wechat.database) as db:
        assert db.execute("SELECT count(*) FROM cases WHERE wechat_openid = ?", (openid,)).fetchone() == (1,)


def test_a_slow_turn_is_acknowledged_in_time_and_answered_by_customer_service(wechat: WeChatStack) -> None:
    openid = f"o{uuid.uuid4().hex[:27]}"
    stalled = _with_descendants(wechat.stack.actions.pid)  # Sanic serves from a worker process of its own
    for pid in stalled:
        os.kill(pid, signal.SIGSTOP)  # the action server stalls (say, under load): the turn cannot finish in time
    try:
        delivery = wechat.say(openid, "我想办居住证")
    finally:
        for pid in stalled:
            os.kill(pid, signal.SIGCONT)
    assert _shown(delivery) == ACKNOWLEDGEMENT
    assert len(delivery["attempts"]) == 1 and delivery["attempts"][0]["elapsed_s"] < 5  # WeChat's 5-second rule
    late = _wait_for(wechat, openid, "custom_send")
    assert "浙江省居住证申领" in late["body"]["text"]["content"]
    assert len([c for c in wechat.outbound(openid) if c["api"] == "custom_send"]) == 1
    assert wechat.user_turns(openid, "我想办居住证") == 1


def test_voice_menu_and_qr_codes(wechat: WeChatStack) -> None:
    openid = f"o{uuid.uuid4().hex[:27]}"
    heard = wechat.send({"openid": openid, "type": "voice", "recognition": "老年人优待证怎么办理。"})
    assert "老年人优待证" in _shown(heard)
    unheard = wechat.send({"openid": openid, "type": "voice", "recognition": ""})
    assert _shown(unheard) == VOICE_NOT_UNDERSTOOD
    click = wechat.send({"openid": openid, "type": "event", "event": "CLICK", "key": "DEPT_medical_insurance"})
    assert "医保可以办这些事项" in _shown(click)
    scan = wechat.send({"openid": openid, "type": "event", "event": "SCAN", "key": "item_residence_permit"})
    assert "浙江省居住证申领" in _shown(scan)


def test_a_voice_note_without_recognition_reaches_rasa_as_what_jiujin_heard(wechat: WeChatStack) -> None:
    openid = f"o{uuid.uuid4().hex[:27]}"
    note = base64.b64encode(NE_AMR.read_bytes()).decode()
    delivery = wechat.send({"openid": openid, "type": "voice", "audio": note, "format": "amr"})
    assert len(delivery["attempts"]) == 1 and delivery["attempts"][0]["status"] == 200
    assert _shown(delivery) and _shown(delivery) != VOICE_NOT_UNDERSTOOD
    calls = httpx.get(f"{wechat.simulator}/simulator/outbound", timeout=10).json()["calls"]
    # The channel downloaded the note from the API stand-in by its MediaId.
    assert any(c["api"] == "media_get" and c["errcode"] == 0 and c["bytes"] == len(NE_AMR.read_bytes()) for c in calls)
    tracker = httpx.get(wechat.stack.tracker(openid), timeout=10).json()
    said = [e for e in tracker["events"] if e["event"] == "user"]
    assert [e["text"] for e in said] == ["네"]
    assert said[0]["metadata"].get("heard_by") == "jiujin"


def test_forged_stale_hostile_and_huge_requests_are_refused(wechat: WeChatStack) -> None:
    server = WeChatServer(wechat.webhook, wechat.settings)
    xml = server.build_xml("oForged", "text", Content="我想办居住证", MsgId=server.new_msg_id())
    body, query = server.envelope(xml, "oForged")
    forged = query | {"signature": "0" * 40}
    assert httpx.post(wechat.webhook, params=forged, content=body).status_code == 403
    stale = server.signed_query(timestamp=str(int(time.time()) - 3600))
    assert httpx.post(wechat.webhook, params=stale, content=body).status_code == 403
    hostile = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><xml><Encrypt>&b;</Encrypt></xml>'
    assert httpx.post(wechat.webhook, params=server.signed_query(), content=hostile).status_code == 400
    huge = b"<xml>" + b"a" * (2 * 1024 * 1024) + b"</xml>"
    assert httpx.post(wechat.webhook, params=server.signed_query(), content=huge, timeout=30).status_code == 413
    assert wechat.user_turns("oForged", "我想办居住证") == 0
    echo = server.signed_query() | {"echostr": "3141592653"}
    assert httpx.get(wechat.webhook, params=echo).text == "3141592653"
    assert httpx.get(wechat.webhook, params=echo | {"signature": "f" * 40}).status_code == 403


def test_the_reply_is_encrypted_with_wechats_own_crypto(wechat: WeChatStack) -> None:
    server = WeChatServer(wechat.webhook, wechat.settings)  # its crypto is wechatpy's WeChatCrypto
    openid = f"o{uuid.uuid4().hex[:27]}"
    body, query = server.envelope(server.build_xml(openid, "text", Content="你好", MsgId=server.new_msg_id()), openid)
    response = httpx.post(wechat.webhook, params=query, content=body)
    assert b"<Encrypt>" in response.content and "就近办助手".encode() not in response.content
    reply = server.read_reply(response.content, openid)
    assert reply is not None and reply["ToUserName"] == openid and "就近办助手" in reply["Content"]


def test_the_menu_command_publishes_a_menu_wechat_accepts(wechat: WeChatStack, tmp_path: Path) -> None:
    env = os.environ | DIALOGUE_ENV | {"WECHAT_API_BASE_URL": f"{wechat.simulator}/cgi-bin/",
                                     "WECHAT_STATE_PATH": str(tmp_path / "state.db")}  # fmt: skip
    done = subprocess.run(["bin/jiujin", "wechat", "menu", "publish"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    menu = httpx.get(f"{wechat.simulator}/simulator/menu").json()["menu"]
    assert [b["name"] for b in menu["button"]] == ["医保社保", "民政公安", "办事服务"]


def test_a_newcomer_chats_as_wechat_in_the_simulators_page(wechat: WeChatStack, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with launched_chromium() as browser:
        page = browser.new_page(viewport={"width": 420, "height": 860})
        page.goto(wechat.simulator)
        page.click("#follow")
        expect(page.locator("#chat")).to_contain_text("感谢关注")
        page.fill("#text", "我想办居住证")
        page.click("#form button[type=submit]")
        expect(page.locator("#chat")).to_contain_text("浙江省居住证申领")
        page.screenshot(path=str(tmp_path / "simulator.png"))


def _staff(wechat: WeChatStack, username: str, role: str, department: str | None = None) -> None:
    command = ["bin/jiujin", "staff", "add", username, "--role", role, "--password-stdin"]
    command += ["--department", department] if department else []
    env = os.environ | {"DATABASE_URL": f"sqlite:///{wechat.database}"}
    done = subprocess.run(command, input="console-e2e-1\n", env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def _notices_about(wechat: WeChatStack, openid: str, number: str) -> list[dict[str, Any]]:
    sent = [c for c in wechat.outbound(openid) if c["api"] in ("template_send", "custom_send") and c["errcode"] == 0]
    return [c for c in sent if number in json.dumps(c["body"], ensure_ascii=False)]


def test_staff_work_a_wechat_case_in_the_console_and_the_resident_hears_of_each_step(
    wechat: WeChatStack, tmp_path: Path
) -> None:
    """The console's "done means": in a real browser the front desk accepts a case filed through the bot, the
    department completes it, the window hands it out; the resident gets a notice for each; the statistics count it."""
    from playwright.sync_api import expect

    openid = f"o{uuid.uuid4().hex[:27]}"
    for text in ("我想办居住证", "4", "李建国", YOUNG_ID, "13912345678"):
        wechat.say(openid, text)
    number = _shown(wechat.say(openid, "翠苑一区社区")).split("办件编号是 ")[1][:16]
    _staff(wechat, "qiantai", "front_desk")
    _staff(wechat, "gongan", "department", "公安")
    console = f"{wechat.stack.backend}/console"

    def sign_in(page: Any, username: str) -> None:
        page.goto(f"{console}/cases")
        page.fill("#username", username)
        page.fill("#password", "console-e2e-1")
        page.click("button[type=submit]")
        expect(page.locator("header .who")).to_contain_text(username)

    def act(page: Any, label: str, done: str, expected_notices: int) -> None:
        page.goto(f"{console}/cases/{number}")
        for radio in page.locator("input[type=radio][value=received]").all():
            radio.check()
        page.click(f"button[name=to] >> text={label}")
        expect(page.locator(".done")).to_have_text(done)
        wait_for(
            lambda: len(_notices_about(wechat, openid, number)) >= expected_notices,
            30,
            what=f"{expected_notices} notices about {number}",
            every_s=0.2,
        )

    with launched_chromium() as browser:
        front = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        sign_in(front, "qiantai")
        expect(front.locator("table")).to_contain_text(number)  # the front desk's inbox: to accept
        act(front, "受理", "已受理。", 1)
        front.screenshot(path=str(tmp_path / "accepted.png"))
        department = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        sign_in(department, "gongan")
        expect(department.locator("table")).to_contain_text(number)  # the department's inbox: to process
        act(department, "开始办理", "已开始办理。", 2)
        act(department, "办结", "已办结。", 3)
        act(front, "出件", "已出件。", 4)
        front.screenshot(path=str(tmp_path / "handed-out.png"))
        history = front.locator("main").inner_text()
        assert "gongan" in history and "办结 → 已出件" in history
        front.goto(f"{console}/statistics")
        expect(front.locator("#filed-total")).not_to_have_text("0 件")
        expect(front.locator("main")).to_contain_text("公安")
        front.screenshot(path=str(tmp_path / "statistics.png"), full_page=True)
    assert (tmp_path / "statistics.png").stat().st_size > 10_000


def _answer(wechat: WeChatStack, openid: str, delivery: dict[str, Any]) -> str:
    """What the follower read: the passive reply, or the customer-service message of a turn slower than 5 s."""
    if _shown(delivery) != ACKNOWLEDGEMENT:
        return _shown(delivery)
    return str(_wait_for(wechat, openid, "custom_send")["body"]["text"]["content"])


def test_a_counter_ticket_scanned_on_wechat_is_followed_and_its_holder_told_when_three_are_ahead(
    wechat: WeChatStack, tmp_path: Path
) -> None:
    """A ticket followed on WeChat by its QR code: the printed ticket carries WeChat's parametric code; a newcomer scans
    it, follows the account, is welcomed and told the ticket's place; calls at a window bring the "3 ahead" notice."""
    backend, openid = wechat.stack.backend, f"o{uuid.uuid4().hex[:27]}"
    taken = [
        httpx.post(
            f"{backend}/api/v1/queue/tickets",
            headers=bearer_headers("tools"),
            json={"category": "A", "channel": "counter"},
        ).json()
        for _ in range(5)
    ]
    ticket = taken[-1]
    with PrinterSimulator(tmp_path / "printed", name="ticket", link=tmp_path / "ticket.tty") as printer:
        worker = PrinterWorker("ticket", SerialPrinter(str(printer.link), timeout_s=0.5), backend)
        try:
            while worker.step() != "idle":  # every ticket spooled so far, ours last
                pass
        finally:
            worker.close()
    jobs = httpx.get(
        f"{backend}/api/v1/print-jobs",
        headers=bearer_headers("tools"),
        params={"printer": "ticket", "status": "printed"},
    ).json()
    (job,) = [j for j in jobs if j["document"]["number"] == ticket["number"]]
    printed = (tmp_path / "printed" / f"{job['id']}.txt").read_text(encoding="utf-8")
    assert "微信扫码，轮到您之前会提醒您" in printed
    (code,) = re.findall(r"\[QR\] (\S+)", printed)
    assert code.startswith("http://weixin.qq.com/q/") and code == job["document"]["qr"]
    codes = httpx.get(f"{wechat.simulator}/simulator/qrcodes").json()["codes"]
    (scene,) = [c["scene"] for c in codes if c["url"] == code]
    assert scene.startswith(f"ticket_{ticket['service_day'].replace('-', '')}_{ticket['number']}_")  # signed

    scan = httpx.post(f"{wechat.simulator}/simulator/scan", json={"openid": openid, "url": code}, timeout=30).json()
    assert scan["event"] == "subscribe" and scan["delivered"]  # a newcomer: following by the code
    answer = _answer(wechat, openid, scan)
    place = httpx.get(f"{backend}/api/v1/queue/tickets/{ticket['number']}", headers=bearer_headers("tools")).json()
    assert place["ahead"] > 3, place
    assert answer.index("感谢关注") < answer.index(f"已为您关注 {ticket['number']} 号")
    assert f"您前面还有 {place['ahead']} 人" in answer and "轮到您前 3 位时，我会在这里提醒您" in answer
    with sqlite3.connect(wechat.database) as db:
        row = "SELECT wechat_openid FROM queue_tickets WHERE number = ? AND service_day = ?"
        assert db.execute(row, (ticket["number"], ticket["service_day"])).fetchone() == (openid,)

    while (
        httpx.get(f"{backend}/api/v1/queue/tickets/{ticket['number']}", headers=bearer_headers("tools")).json()["ahead"]
        > 3
    ):
        assert (
            httpx.post(f"{backend}/api/v1/queue/windows/1/call-next", headers=bearer_headers("tools")).status_code
            == 200
        )

    def near_notice() -> dict[str, Any] | None:
        sent = [c for c in wechat.outbound(openid) if c["api"] in ("custom_send", "template_send") and not c["errcode"]]
        return next((c for c in sent if "快到您了" in json.dumps(c["body"], ensure_ascii=False)), None)

    notice = json.dumps(wait_for(near_notice, within_s=30, what="the 3-ahead notice")["body"], ensure_ascii=False)
    assert ticket["number"] in notice and "前面还有 3 位" in notice


def test_the_simulators_page_scans_a_tickets_code(wechat: WeChatStack, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    backend = wechat.stack.backend
    ticket = httpx.post(
        f"{backend}/api/v1/queue/tickets", headers=bearer_headers("tools"), json={"category": "A", "channel": "counter"}
    ).json()
    while (
        claimed := httpx.post(
            f"{backend}/api/v1/print-jobs/claim", headers=bearer_headers("tools"), json={"printer": "ticket"}
        )
    ).status_code == 200:
        job = claimed.json()  # the backend asks WeChat for each ticket's code as a printer claims it
        httpx.post(
            f"{backend}/api/v1/print-jobs/{job['id']}/status",
            headers=bearer_headers("tools"),
            json={"status": "printed"},
        )
    with launched_chromium() as browser:
        page = browser.new_page(viewport={"width": 420, "height": 860})
        page.goto(wechat.simulator)
        page.click("#follow")
        expect(page.locator("#chat")).to_contain_text("感谢关注")
        page.click("#scan")
        page.locator("#codes button", has_text=ticket["number"]).first.click()  # the codes WeChat made, by scene
        expect(page.locator("#chat")).to_contain_text(f"已为您关注 {ticket['number']} 号")
        page.screenshot(path=str(tmp_path / "scanned.png"))
