"""Personal numbers at rest in Rasa, tried as an attacker who gets hold of a tracker (or of the logs) would: after a
whole filing conversation, over REST and over WeChat (typed and spoken), no ID number or phone is anywhere in the
stored tracker (texts, entities, slots, the bot's answers) nor in the processes' logs, while the case in the backend
has the real numbers (the actions read them from the backend's vault, not from the tracker).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx

from security.resident_text import clean
from tests.conftest import make_id
from tests.security.conftest import ResidentStack, new_sender

BORN = "19900307"


def stored_tracker(stack: ResidentStack, sender: str) -> dict[str, Any]:
    tracker = httpx.get(stack.stack.tracker(sender), timeout=30)
    assert tracker.status_code == 200, tracker.text
    return tracker.json()


def numbers_in_clear(text: str, *numbers: str) -> list[str]:
    """Which of ``numbers`` appear in ``text`` in clear, also written with spaces or hyphens between digits."""
    digits_only = re.sub(r"(?<=[0-9Xx])[\s-]+(?=[0-9Xx])", "", text)
    return [n for n in numbers if n in digits_only or n.lower() in digits_only]


def logs_of(stack: ResidentStack) -> str:
    """The logs of the stack's processes (the folder where Rasa's output goes, which holds every part's log)."""
    folder = Path(os.readlink(f"/proc/{stack.stack.rasa_process.pid}/fd/1")).parent
    logs = {path.name: path.read_text(errors="replace") for path in folder.glob("*.log")}
    assert {"rasa.log", "actions.log", "backend.log"} <= set(logs), logs.keys()
    return "\n".join(logs.values())


def filed_case(stack: ResidentStack, id_number: str, phone: str) -> dict[str, Any]:
    """The one case the backend holds under these real numbers."""
    found = stack.api("GET", "/cases", params={"id_number": id_number, "phone": phone}, timeout=30)
    assert found.status_code == 200, found.text
    assert found.json()["total"] == 1, found.json()
    return found.json()["cases"][0]


def test_a_rest_filing_leaves_no_number_in_the_tracker(resident_stack: ResidentStack) -> None:
    sender = new_sender()
    id_number, other, phone = make_id(born=BORN, seq="371"), make_id(born=BORN, seq="372"), "13912345671"
    wrong = other[:-1] + ("1" if other.endswith("0") else "0")  # a check character that does not fit
    say = resident_stack.say
    assert "居住证" in say(sender, "/我想办居住证")  # a leading slash is only taken off
    assert "姓名" in say(sender, "4")
    assert "身份证" in say(sender, "王秀英")
    assert "校验位" in say(sender, wrong)  # the checks still say what is wrong
    assert "手机" in say(sender, f"我的身份证是 {id_number[:6]} {id_number[6:14]} {id_number[14:]}")
    assert "社区" in say(sender, f"{phone[:3]}-{phone[3:7]}-{phone[7:]}")
    filed = say(sender, "骆家庄社区")
    assert "办件编号是" in filed, filed
    say(sender, "好的")  # a queue number, with the age read through the vault

    tracker = stored_tracker(resident_stack, sender)
    dumped = json.dumps(tracker, ensure_ascii=False)
    assert numbers_in_clear(dumped, id_number, wrong, phone, BORN + id_number[14:17]) == []
    assert tracker["slots"]["id_number"] == clean(id_number).text
    assert tracker["slots"]["phone"] == clean(phone).text
    texts = [e["text"] for e in tracker["events"] if e["event"] == "user"]
    assert clean(wrong).text in texts and not any(t.startswith("/") for t in texts)
    case = filed_case(resident_stack, id_number, phone)
    assert case["case_number"] in filed and case["item_id"] == "residence_permit"
    assert numbers_in_clear(logs_of(resident_stack), id_number, wrong, phone) == []


def test_a_wechat_filing_typed_and_spoken_leaves_no_number_in_the_tracker(resident_stack: ResidentStack) -> None:
    follower = new_sender("wechat")
    id_number, phone = make_id(area="330108", born=BORN, seq="383"), "15012345683"
    resident_stack.wechat(follower, "我想办居住证")
    resident_stack.wechat(follower, "4")
    resident_stack.wechat(follower, "李建国")
    assert "手机" in resident_stack.wechat(follower, f"身份证{id_number.lower()}")
    spoken = {"openid": follower, "type": "voice", "recognition": f"我的电话是{phone}。"}
    heard = httpx.post(f"{resident_stack.simulator}/simulator/messages", json=spoken, timeout=60).json()
    assert "社区" in str(heard.get("shown_to_user")), heard
    filed = resident_stack.wechat(follower, "骆家庄社区")
    assert "办件编号是" in filed, filed

    tracker = stored_tracker(resident_stack, follower)
    assert numbers_in_clear(json.dumps(tracker, ensure_ascii=False), id_number, phone) == []
    assert {tracker["slots"]["id_number"], tracker["slots"]["phone"]} == {clean(id_number).text, clean(phone).text}
    case = filed_case(resident_stack, id_number, phone)
    assert case["case_number"] in filed and case["channel"] == "wechat"
    assert numbers_in_clear(logs_of(resident_stack), id_number, phone) == []
