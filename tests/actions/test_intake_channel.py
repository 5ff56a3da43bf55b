"""The channel the backend records for a conversation's cases and tickets, and the OpenID it sends notices to."""

from __future__ import annotations

import pytest

from actions.intake_channel import intake_channel, wechat_openid
from tests.actions.conftest import tracker

WECHAT_TURN = [{"event": "user", "text": "你好", "input_channel": "wechat"}]
REST_TURN = [{"event": "user", "text": "你好", "input_channel": "rest"}]


@pytest.mark.parametrize(
    ("events", "slots", "channel", "openid"),
    [
        (WECHAT_TURN, {}, "wechat", "o-follower"),
        (REST_TURN, {}, "chat", None),
        ([], {}, "chat", None),
        (REST_TURN, {"interface": "voice"}, "counter", None),
    ],
    ids=["wechat follower", "rest chat", "no channel named", "voice counter"],
)
def test_each_conversation_is_recorded_by_the_channel_it_came_by(
    events: list[dict], slots: dict, channel: str, openid: str | None
) -> None:
    conversation = tracker(sender="o-follower", events=events, slots=slots)
    assert intake_channel(conversation) == channel
    assert wechat_openid(conversation) == openid


def test_a_proxy_filing_is_the_social_workers_whatever_the_channel() -> None:
    assert intake_channel(tracker(events=WECHAT_TURN), proxy=True) == "proxy"
    assert intake_channel(tracker(events=REST_TURN, slots={"interface": "voice"}), proxy=True) == "proxy"
