"""Faults in the production configuration: the Rasa instance holding a follower's conversation is killed. nginx
sends the follower's next message to the other instance, which continues from the conversation in PostgreSQL."""

from __future__ import annotations

import uuid

from tests.deploy.conftest import Prod

WEBHOOK = "/webhooks/wechat/webhook"


def test_a_conversation_continues_on_the_other_instance_when_its_own_is_killed(prod: Prod) -> None:
    openid = f"oKilled{uuid.uuid4().hex[:12]}"
    assert "居住证" in str(prod.wechat_say(openid, "我想办居住证")["shown_to_user"])
    assert "居住证" in str(prod.wechat_say(openid, "要多久")["shown_to_user"])
    own = prod.served_by(WEBHOOK)
    assert prod.served_by(WEBHOOK) == own  # one follower, one instance (nginx hashes the OpenID)
    instance = prod.stack.part(own)
    instance.kill()
    try:
        # "1": see what to bring — for the item the killed instance had been told about.
        after = prod.wechat_say(openid, "1")
        shown = str(after["shown_to_user"])
        assert after["attempts"][0]["status"] == 200  # not even a retry by WeChat was needed
        assert "身份证" in shown and "居住证" in shown, shown
        assert prod.served_by(WEBHOOK) != own
    finally:
        instance.start()
        instance.wait_ready()
