"""Progress for a case's owner only (actions/progress.py), and a second filing that asks whose it is before reusing
the earlier resident's details (actions/resident.py, the filing form)."""

from __future__ import annotations

from typing import Any

import yaml
from rasa_sdk.executor import CollectingDispatcher

from actions.filing import ActionFileCase, ActionStartFiling, ValidateFilingForm
from actions.items import ActionChoose
from actions.progress import GAVE_UP, ActionCheckProgress, ValidateProgressForm, code_in
from tests.actions.conftest import DOMAIN_DIR, responses, slots_set, tracker
from tests.conftest import YOUNG_ID, case_body
from vocabulary.masking import mask_name

OPENID = "oOwner0000000000000000000001"


def _on_wechat(openid: str, text: str) -> dict[str, Any]:
    """What Rasa sends for a message that came through the WeChat channel (the sender id is the OpenID)."""
    return {"tracker": tracker(text=text, sender=openid, events=[{"event": "user", "input_channel": "wechat"}])}


async def _progress(domain: dict, text: str = "", **kwargs: Any) -> tuple[CollectingDispatcher, dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    asked = kwargs.pop("tracker", None) or tracker(text=text, **kwargs)
    events = await ActionCheckProgress().run(dispatcher, asked, domain)
    return dispatcher, slots_set(events)


def _said(dispatcher: CollectingDispatcher) -> str:
    return " ".join(str(m) for m in dispatcher.messages)


async def test_a_bare_case_number_or_id_number_tells_nothing(backend_api, domain) -> None:
    filed = (await backend_api.post("/api/v1/cases", json=case_body())).json
    number = filed["case_number"]
    asked, slots = await _progress(domain, f"查一下{number}")
    assert responses(asked) == [] and slots["launch"] == "check_progress" and slots["case_number"] == number
    for text in (f"身份证{YOUNG_ID}", "11010519491231002X", "1101**********002X"):
        refused, slots = await _progress(domain, text)
        assert responses(refused) == ["utter_progress_not_by_id_number"] and "case_number" not in slots
        assert filed["item_name"] not in _said(refused) and "002X" not in _said(refused)
    wrong, _ = await _progress(domain, f"{number} 1234")
    unknown, _ = await _progress(domain, "JJ-20200101-0001 5678")
    assert responses(wrong) == responses(unknown) == ["utter_progress_none"]
    assert filed["item_name"] not in _said(wrong)


async def test_the_owner_is_told_with_the_phone_or_the_receipt_code(backend_api, domain) -> None:
    filed = (await backend_api.post("/api/v1/cases", json=case_body())).json
    number = filed["case_number"]
    told, _ = await _progress(domain, f"{number.lower()}，手机尾号5678")
    assert responses(told) == ["utter_progress", "utter_progress_missing"]
    assert told.messages[0]["item_name"] == filed["item_name"]
    # The code asked for by the form, spoken at the counter, then used by the action that follows the form.
    answer = CollectingDispatcher()
    form_tracker = tracker(text="幺二三", slots={"case_number": number}, active_loop="progress_form")
    reasked = await ValidateProgressForm().validate_progress_code("幺二三", answer, form_tracker, domain)
    assert reasked["progress_code"] is None and responses(answer) == ["utter_invalid_progress_code"]
    spoken = f"查询码{' '.join(filed['receipt_code'])}"
    code = await ValidateProgressForm().validate_progress_code(spoken, answer, form_tracker, domain)
    assert code["progress_code"] == filed["receipt_code"]
    after, slots = await _progress(domain, slots={"case_number": number, "progress_code": code["progress_code"]})
    assert responses(after) == ["utter_progress", "utter_progress_missing"] and slots["progress_code"] is None


async def test_no_code_sends_the_resident_to_the_window(backend_api, domain) -> None:
    form_tracker = tracker(text="不知道", intent="deny", slots={"case_number": "JJ-20261126-0001"})
    gave_up = await ValidateProgressForm().validate_progress_code(
        "不知道", CollectingDispatcher(), form_tracker, domain
    )
    assert gave_up["progress_code"] == GAVE_UP
    advice, slots = await _progress(domain, slots={"case_number": "JJ-20261126-0001", "progress_code": GAVE_UP})
    assert responses(advice) == ["utter_progress_in_person"] and slots["progress_code"] is None
    assert code_in("13812345678") == "5678" and code_in("JJ-20261126-0001") is None and code_in("五六七八") == "5678"


async def test_on_wechat_the_follower_who_filed_needs_no_code(backend_api, domain) -> None:
    mine = (await backend_api.post("/api/v1/cases", json=case_body(wechat_openid=OPENID))).json["case_number"]
    theirs = (await backend_api.post("/api/v1/cases", json=case_body())).json["case_number"]
    listed, _ = await _progress(domain, **_on_wechat(OPENID, "办好了没"))
    assert responses(listed)[0] == "utter_progress" and listed.messages[0]["case_number"] == mine
    assert theirs not in _said(listed)
    asked, slots = await _progress(domain, **_on_wechat(OPENID, f"查{theirs}"))  # filed at the counter: a code
    assert responses(asked) == [] and slots["launch"] == "check_progress"
    stranger, slots = await _progress(domain, **_on_wechat("oStranger000000000000000001", f"查{mine}"))
    assert responses(stranger) == [] and slots["launch"] == "check_progress"
    # The same sender id on the REST channel is not a WeChat follower.
    rest, slots = await _progress(domain, f"查{mine}", sender=OPENID)
    assert responses(rest) == [] and slots["launch"] == "check_progress"


FILED = {
    "item": "residence_permit",
    "person_name": "王秀英",
    "id_number": YOUNG_ID,
    "phone": "13812345678",
    "community": "骆家庄社区",
}


async def _file(domain: dict, slots: dict[str, Any]) -> dict[str, Any]:
    events = await ActionFileCase().run(CollectingDispatcher(), tracker(slots=slots), domain)
    return slots | slots_set(events)


async def test_a_second_filing_asks_before_reusing_anything(backend_api, domain) -> None:
    assert mask_name("王秀英") == "王*英" and mask_name("欧阳小锋") == "欧**锋" and mask_name("王英") == "王*"
    slots = await _file(domain, dict(FILED))
    assert slots["case_number"] and slots["person_name"] == "王秀英"
    # “我想办残疾人证” then “4”: the offered step starts the filing form, which must ask first.
    offered = ["step:materials", "step:checklist", "step:guide", "step:file_case", "step:take_number"]
    chosen = {**slots, "item": "disability_certificate", "offered": offered}
    launched = slots_set(await ActionChoose().run(CollectingDispatcher(), tracker(text="4", slots=chosen), domain))
    assert launched["launch"] == "file_case" and launched["previous_resident"] == "王*英"
    assert launched["same_resident"] is None
    form = {**chosen, **launched, "requested_slot": "same_resident"}
    validator = ValidateFilingForm()
    dispatcher = CollectingDispatcher()
    assert await validator.required_slots([], dispatcher, tracker(slots=form), domain) == ["same_resident"]
    ask = domain["responses"]["utter_ask_filing_form_same_resident"][0]["text"]
    assert ask.format(previous_resident=launched["previous_resident"]).startswith("还是为王*英办理吗？")

    answered = tracker(text="不是", intent="affirm", slots=form, active_loop="filing_form")  # NLU may hear a yes
    cleared = await validator.validate_same_resident("不是", dispatcher, answered, domain)
    assert cleared["same_resident"] == "no"
    assert all(cleared[slot] is None for slot in ("person_name", "id_number", "phone", "community", "proxy_name"))
    then = {**form, **cleared}
    assert (await validator.required_slots([], dispatcher, tracker(slots=then), domain))[:2] == [
        "same_resident",
        "person_name",
    ]

    kept = await validator.validate_same_resident("是", dispatcher, tracker(text="是", slots=form), domain)
    assert kept["same_resident"] == "yes" and kept["id_number"] and "person_name" not in kept  # checked again
    assert kept.get("filing_outcome") is None


async def test_the_form_validates_the_answer_rasa_extracted(backend_api, domain) -> None:
    """As Rasa runs it: the answer is in the slot already (from_text), and the whole validation action runs."""
    forms = yaml.safe_load((DOMAIN_DIR / "shared.yml").read_text(encoding="utf-8"))["forms"]
    form = {**FILED, "item": "disability_certificate", "previous_resident": "王*英", "requested_slot": "same_resident"}
    for answer, asked_next in (("不是", "person_name"), ("是", "phone")):
        slots = {**form, "same_resident": answer}
        if answer == "是":
            slots["phone"] = None
        extracted = [{"event": "slot", "name": "same_resident", "value": answer}]
        asked = tracker(text=answer, slots=slots, events=extracted, active_loop="filing_form")
        events = slots_set(await ValidateFilingForm().run(CollectingDispatcher(), asked, {**domain, "forms": forms}))
        assert events["same_resident"] == ("no" if answer == "不是" else "yes")
        assert events["requested_slot"] == asked_next
        if answer == "不是":
            assert events["person_name"] is None and events["id_number"] is None


async def test_yes_checks_the_earlier_resident_against_the_new_item(backend_api, domain) -> None:
    form = {**FILED, "item": "elderly_preferential_card", "previous_resident": "王*英", "same_resident": None}
    dispatcher = CollectingDispatcher()
    kept = await ValidateFilingForm().validate_same_resident("是", dispatcher, tracker(text="是", slots=form), domain)
    assert kept["filing_outcome"] == "not_eligible" and responses(dispatcher) == ["utter_not_eligible"]


async def test_leftovers_without_a_name_are_forgotten_and_a_first_filing_asks_nothing(backend_api, domain) -> None:
    half = {"item": "residence_permit", "id_number": YOUNG_ID, "phone": "13812345678"}
    events = slots_set(await ActionStartFiling().run(CollectingDispatcher(), tracker(slots=half), domain))
    assert events["launch"] == "file_case" and events["id_number"] is None and events["phone"] is None
    assert events["previous_resident"] is None
    fresh = slots_set(
        await ActionStartFiling().run(CollectingDispatcher(), tracker(slots={"item": "residence_permit"}), domain)
    )
    assert fresh["previous_resident"] is None and "id_number" not in fresh
    slots = await _file(domain, dict(FILED))
    assert slots["previous_resident"] is None and slots["same_resident"] is None  # the next filing starts clean


async def test_a_proxys_consent_covers_one_case(backend_api, domain) -> None:
    proxy = {
        **FILED,
        "item": "longevity_allowance",
        "id_number": "110105194001010018",
        "proxy": True,
        "proxy_name": "李社工",
        "proxy_id_number": YOUNG_ID,
        "proxy_consent": "yes",
    }
    from harness.ids import resident_id_number

    proxy["id_number"] = resident_id_number(born="19400101")
    slots = await _file(domain, proxy)
    assert slots["case_number"] and slots["proxy_consent"] is None and slots["proxy_name"] == "李社工"
