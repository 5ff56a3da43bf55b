"""The identity carry-over, tried over the real stack: after one case is filed, “我想办残疾人证” then “4” must not
file a second case under the first resident's name and ID number; the bot asks “还是为王*英办理吗？” first."""

from __future__ import annotations

from tests.conftest import YOUNG_ID, make_id
from tests.security.conftest import ResidentStack, new_sender

OTHER_ID = make_id(born="19850615", seq="242")


def _file_first_case(stack: ResidentStack, sender: str) -> str:
    stack.say(sender, "我想办居住证")
    stack.say(sender, "4")
    stack.say(sender, "王秀英")
    stack.say(sender, YOUNG_ID)
    stack.say(sender, "13812345678")
    filed = stack.say(sender, "骆家庄社区")
    assert "办件编号是 " in filed, filed
    return filed.split("办件编号是 ")[1][:16]


def _cases(stack: ResidentStack, id_number: str) -> list[dict]:
    listed = stack.api("GET", "/cases", params={"id_number": id_number})
    assert listed.status_code == 200, listed.text
    return listed.json()["cases"]


def test_a_second_filing_asks_and_no_forgets_the_first_resident(resident_stack: ResidentStack) -> None:
    sender = new_sender()
    _file_first_case(resident_stack, sender)
    before = len(_cases(resident_stack, YOUNG_ID))
    assert "残疾人证" in resident_stack.say(sender, "我想办残疾人证")
    asked = resident_stack.say(sender, "4")
    assert "还是为王*英办理吗？" in asked and "办件编号" not in asked
    assert "王秀英" not in asked and YOUNG_ID not in asked
    assert len(_cases(resident_stack, YOUNG_ID)) == before  # nothing filed while asking
    assert "姓名" in resident_stack.say(sender, "不是")
    assert "身份证" in resident_stack.say(sender, "李建国")
    assert "手机" in resident_stack.say(sender, OTHER_ID)
    assert "社区" in resident_stack.say(sender, "13900002222")
    filed = resident_stack.say(sender, "骆家庄社区")
    number = filed.split("办件编号是 ")[1][:16]
    case = resident_stack.api("GET", f"/cases/{number}").json()
    assert case["resident_name"] == "李建国" and case["item_id"] == "disability_certificate"
    assert len(_cases(resident_stack, YOUNG_ID)) == before  # the first resident got no second case


def test_yes_reuses_only_after_asking(resident_stack: ResidentStack) -> None:
    sender = new_sender()
    _file_first_case(resident_stack, sender)
    resident_stack.say(sender, "我想办残疾人证")
    assert "还是为王*英办理吗？" in resident_stack.say(sender, "4")
    filed = resident_stack.say(sender, "是")
    assert "办件编号是 " in filed, filed
    case = resident_stack.api("GET", f"/cases/{filed.split('办件编号是 ')[1][:16]}").json()
    assert case["resident_name"] == "王秀英" and case["item_id"] == "disability_certificate"


def test_a_resident_who_stopped_half_way_is_asked_too(resident_stack: ResidentStack) -> None:
    sender = new_sender()
    resident_stack.say(sender, "我想办居住证")
    resident_stack.say(sender, "4")
    resident_stack.say(sender, "王秀英")
    resident_stack.say(sender, YOUNG_ID)
    resident_stack.say(sender, "找工作人员")  # changes their mind half-way
    resident_stack.say(sender, "我想办残疾人证")
    asked = resident_stack.say(sender, "4")
    assert "还是为王*英办理吗？" in asked and YOUNG_ID not in asked
    assert "姓名" in resident_stack.say(sender, "不是")
