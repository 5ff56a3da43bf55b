"""Faults in the production configuration: Redis (conversation locks, WeChat de-duplication, allowances and the
access token) becomes unreachable. Residents are still answered; when Redis is back, the shared state works again."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.deploy.conftest import Prod, new_sender
from wechat.webhook import ACKNOWLEDGEMENT, BUSY


def _user_turns(prod: Prod, openid: str, text: str) -> int:
    tracker = httpx.get(prod.stack.tracker("rasa-1", openid), timeout=10).json()
    return sum(1 for event in tracker["events"] if event["event"] == "user" and event.get("text") == text)


def test_with_redis_down_residents_are_answered_and_deduplication_returns_with_it(prod: Prod) -> None:
    redis = prod.stack.part("redis")
    openid = f"oRedisDown{uuid.uuid4().hex[:12]}"
    assert "居住证" in str(prod.wechat_say(openid, "我想办居住证")["shown_to_user"])
    redis.stop()
    try:
        during = prod.wechat_say(openid, "1")  # 看看要带什么材料
        shown = str(during["shown_to_user"])
        assert during["delivered"] and shown not in (ACKNOWLEDGEMENT, BUSY) and "身份证" in shown, shown
        sender = new_sender()
        assert any("居住证" in r for r in prod.say(sender, "我想办居住证"))
        assert any("姓名" in r for r in prod.say(sender, "4"))  # the REST conversation goes on
    finally:
        redis.start()
        redis.wait_ready()
    # Redis is back: three deliveries of one message (WeChat's retries) make one turn again.
    server = prod.wechat()
    text = "在哪里办"
    msg_id = server.new_msg_id()
    xml = server.build_xml(openid, "text", Content=text, MsgId=msg_id)
    replies = [asyncio.run(server.deliver(openid, xml, msg_id=msg_id)).shown_to_user for _ in range(3)]
    assert replies[0] and replies[0] == replies[1] == replies[2]
    assert _user_turns(prod, openid, text) == 1
