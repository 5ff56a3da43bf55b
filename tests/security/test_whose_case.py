"""Another resident's progress, tried as a stranger would over the real stack: their case number alone (numbers are
sequential), their ID number alone, a guessed phone ending, another WeChat follower. Only the owner is told: with the
phone's last four digits or the receipt's 查询码, or as the follower who filed on WeChat."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import YOUNG_ID
from tests.security.conftest import ResidentStack, new_sender

ITEM_NAME = "浙江省居住证申领"
"""What a stranger must never see: the item tells someone's business (低保, 残疾证 …)."""


@dataclass(frozen=True)
class Filed:
    number: str
    receipt_code: str
    owner: str


def _file_residence_permit(stack: ResidentStack, say, owner: str) -> str:
    """A whole filing in the resident's words; the case number the bot gave."""
    assert ITEM_NAME in say(owner, "我想办居住证")
    assert "姓名" in say(owner, "4")
    say(owner, "王秀英")
    say(owner, YOUNG_ID)
    say(owner, "13812345678")
    filed = say(owner, "骆家庄社区")
    assert "办件编号是 " in filed, filed
    return filed.split("办件编号是 ")[1][:16]


@pytest.fixture(scope="module")
def victims_case(resident_stack: ResidentStack) -> Filed:
    owner = new_sender()
    number = _file_residence_permit(resident_stack, resident_stack.say, owner)
    case = resident_stack.api("GET", f"/cases/{number}")
    assert case.status_code == 200, case.text
    return Filed(number, case.json()["receipt_code"], owner)


def _nothing_about(reply: str, case: Filed) -> None:
    assert ITEM_NAME not in reply and "待受理" not in reply and "还需要补充" not in reply, reply
    assert YOUNG_ID not in reply and "13812345678" not in reply and "王秀英" not in reply, reply


def test_a_case_number_alone_gets_a_question_not_the_case(resident_stack: ResidentStack, victims_case: Filed) -> None:
    stranger = new_sender()
    asked = resident_stack.say(stranger, f"查一下{victims_case.number}")
    _nothing_about(asked, victims_case)
    assert "手机号后四位" in asked and "查询码" in asked
    # The next number, and one that does not exist: the same question, so numbers cannot be told apart.
    following = f"{victims_case.number[:-4]}{int(victims_case.number[-4:]) + 1:04d}"
    assert resident_stack.say(new_sender(), f"查一下{following}") == asked


def test_an_id_number_alone_is_refused_politely(resident_stack: ResidentStack, victims_case: Filed) -> None:
    stranger = new_sender()
    resident_stack.say(stranger, "办好了没")
    refused = resident_stack.say(stranger, YOUNG_ID)
    _nothing_about(refused, victims_case)
    assert victims_case.number not in refused and "不能只凭身份证号" in refused and "办件编号" in refused
    in_one_go = resident_stack.say(new_sender(), f"身份证{YOUNG_ID}办好了吗")
    _nothing_about(in_one_go, victims_case)
    assert victims_case.number not in in_one_go


def test_a_wrong_phone_ending_tells_nothing(resident_stack: ResidentStack, victims_case: Filed) -> None:
    stranger = new_sender()
    resident_stack.say(stranger, f"查一下{victims_case.number}")
    wrong = resident_stack.say(stranger, "1234")
    _nothing_about(wrong, victims_case)
    assert "没有查到" in wrong
    unknown = new_sender()
    resident_stack.say(unknown, "查一下JJ-20200101-0001")
    assert resident_stack.say(unknown, "5678") == wrong  # a wrong code reads as a case that does not exist
    in_one_go = resident_stack.say(new_sender(), f"{victims_case.number} 手机尾号4321")
    _nothing_about(in_one_go, victims_case)


def test_the_owner_is_told_with_the_phone_ending_or_the_receipt_code(
    resident_stack: ResidentStack, victims_case: Filed
) -> None:
    phone = new_sender()  # the owner, on another device: the case number and the phone's last four digits
    resident_stack.say(phone, f"查一下{victims_case.number}")
    told = resident_stack.say(phone, "5678")
    assert ITEM_NAME in told and "待受理" in told and victims_case.number in told
    receipt = new_sender()
    resident_stack.say(receipt, "办好了没")
    resident_stack.say(receipt, victims_case.number)
    told = resident_stack.say(receipt, victims_case.receipt_code)
    assert ITEM_NAME in told and "待受理" in told


def test_on_wechat_only_the_follower_who_filed_is_told(resident_stack: ResidentStack) -> None:
    follower = new_sender("wechat")
    number = _file_residence_permit(resident_stack, resident_stack.wechat, follower)
    mine = resident_stack.wechat(follower, "办好了没")
    assert number in mine and ITEM_NAME in mine and "待受理" in mine
    other = new_sender("wechat")
    asked = resident_stack.wechat(other, f"查一下{number}")
    assert ITEM_NAME not in asked and "手机号后四位" in asked
    assert ITEM_NAME not in resident_stack.wechat(other, "办好了没")  # their own cases: none
    # A REST caller that calls itself by the follower's OpenID gets nowhere near the follower's conversation.
    posing = httpx.post(
        f"{resident_stack.stack.rasa}/webhooks/rest/webhook",
        json={"sender": follower, "message": f"查一下{number}"},
        timeout=60,
    )
    assert posing.status_code == 400 and ITEM_NAME not in posing.text and number not in posing.text
