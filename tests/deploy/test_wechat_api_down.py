"""Faults in the production configuration: the WeChat API fails ("system busy") while jiujin has something to
tell a follower. Nothing is dropped: late answers and notices go out once the API answers again, exactly once."""

from __future__ import annotations

import os
import signal
import uuid

import httpx

from harness.ids import resident_id_number
from tests.deploy.conftest import Prod
from tests.waiting import wait_for
from wechat.webhook import ACKNOWLEDGEMENT


def _sent(prod: Prod, openid: str, words: str) -> list[dict]:
    """Successful customer-service or template calls to ``openid`` whose body contains ``words``."""
    return [c for c in prod.outbound(openid) if c["errcode"] == 0 and words in str(c["body"])]


def test_a_late_answer_goes_out_when_the_wechat_api_recovers(prod: Prod) -> None:
    openid = f"oApiDown{uuid.uuid4().hex[:12]}"
    assert "居住证" in str(prod.wechat_say(openid, "我想办居住证")["shown_to_user"])
    actions = [prod.stack.part(name).process for name in prod.stack.names("actions-")]
    for process in actions:  # the action servers hang: the turn misses WeChat's 5 seconds
        os.killpg(process.pid, signal.SIGSTOP)
    prod.fail_wechat_api(6)  # and the API fails the next six calls (two rounds of three attempts)
    try:
        assert prod.wechat_say(openid, "1")["shown_to_user"] == ACKNOWLEDGEMENT
    finally:
        for process in actions:
            os.killpg(process.pid, signal.SIGCONT)
    wait_for(lambda: _sent(prod, openid, "身份证"), 30, "the late answer, after the API recovered")
    calls = [c for c in prod.outbound(openid) if c["api"] == "custom_send"]
    assert [c["errcode"] for c in calls][:6] == [-1] * 6  # it was tried, failed, and tried again later
    assert len(_sent(prod, openid, "身份证")) == 1


def test_a_status_notice_goes_out_when_the_wechat_api_recovers(prod: Prod) -> None:
    openid = f"oApiDown{uuid.uuid4().hex[:12]}"
    assert prod.wechat_say(openid, "你好")["delivered"]  # the follower wrote: customer-service messages are allowed
    body = {
        "item_id": "residence_permit",
        "resident": {"id_number": resident_id_number(seq="731"), "name": "王秀英", "phone": "13812345678"},
        "channel": "wechat",
        "wechat_openid": openid,
    }
    filed = httpx.post(f"{prod.stack.internal}/api/v1/cases", json=body, headers=prod.headers, timeout=10)
    assert filed.status_code == 201, filed.text
    number = filed.json()["case_number"]
    prod.fail_wechat_api(4)
    transition = f"{prod.stack.internal}/api/v1/cases/{number}/transitions"
    accepted = httpx.post(transition, json={"to": "accepted"}, headers=prod.headers, timeout=10)
    assert accepted.status_code == 200, accepted.text
    wait_for(lambda: _sent(prod, openid, number), 60, "the notice of acceptance, after the API recovered")
    assert any(c["errcode"] == -1 for c in prod.outbound(openid))
    assert len(_sent(prod, openid, number)) == 1
