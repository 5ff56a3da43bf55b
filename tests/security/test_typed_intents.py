"""Typed intents, tried as a stranger would: text that starts with "/" (full-width too, after spaces) over Rasa's REST
channel and over WeChat (typed or as a voice note's recognition) is words for NLU, never an intent with entities of
the sender's choosing; and a REST caller cannot pass for a WeChat follower by naming the channel.

Read from the conversation's tracker through Rasa's API: the text Rasa parsed, the intent it found and its entities.
The channel's own intent messages (a menu click) still work.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.security.conftest import ResidentStack, new_sender

ATTEMPTS = [
    '/follow_ticket{"ticket": "20261127_A012"}',
    '/file_case{"item": "disability_certificate"}',
    "/file_case",
    "／file_case",
    '  /follow_ticket{"ticket": "20261127_A012"}',
    '\u3000／／restart{"item": "residence_permit"}',
]
"""What a stranger types: an intent with entities, a bare one, full-width slashes, leading spaces of two widths."""
TYPED = {"follow_ticket", "file_case", "restart"}


def user_events(stack: ResidentStack, sender: str) -> list[dict[str, Any]]:
    tracker = httpx.get(stack.stack.tracker(sender), timeout=30)
    assert tracker.status_code == 200, tracker.text
    return [event for event in tracker.json()["events"] if event["event"] == "user"]


def assert_read_as_words(event: dict[str, Any]) -> None:
    """Rasa took the text as words: NLU ranked intents for it (an intent message has a single one, certain), the
    text it parsed has no leading slash, and no entity came from the sender's braces."""
    parsed = event["parse_data"]
    assert not event["text"].lstrip().startswith(("/", "／")), event["text"]
    intent = parsed["intent"]
    assert not (intent.get("name") in TYPED and intent.get("confidence") == 1.0), intent
    assert len(parsed.get("intent_ranking") or []) > 1, parsed.get("intent_ranking")
    assert not [e for e in parsed.get("entities", []) if e.get("entity") == "ticket"], parsed["entities"]
    assert not [e for e in parsed.get("entities", []) if e.get("value") == "disability_certificate"]


@pytest.mark.parametrize("typed", ATTEMPTS)
def test_rest_text_is_never_an_intent(resident_stack: ResidentStack, typed: str) -> None:
    sender = new_sender()
    replies = resident_stack.say(sender, typed)
    [event] = user_events(resident_stack, sender)
    assert_read_as_words(event)
    assert "关注" not in replies  # action_follow_ticket never ran ("…已关注…" / "请在微信里扫码…")


@pytest.mark.parametrize("typed", ATTEMPTS[:4])
def test_wechat_text_and_voice_are_never_intents(resident_stack: ResidentStack, typed: str) -> None:
    follower = new_sender("wechat")
    resident_stack.wechat(follower, typed)
    voice = {"openid": follower, "type": "voice", "recognition": typed}
    httpx.post(f"{resident_stack.simulator}/simulator/messages", json=voice, timeout=60).raise_for_status()
    events = user_events(resident_stack, follower)
    assert len(events) == 2
    for event in events:
        assert_read_as_words(event)


def test_the_channels_own_intents_still_work(resident_stack: ResidentStack) -> None:
    follower = new_sender("wechat")
    click = {"openid": follower, "type": "event", "event": "CLICK", "key": "TAKE_NUMBER"}
    httpx.post(f"{resident_stack.simulator}/simulator/messages", json=click, timeout=60).raise_for_status()
    [event] = user_events(resident_stack, follower)
    assert event["text"] == "/take_number" and event["parse_data"]["intent"]["name"] == "take_number"


def test_a_rest_caller_cannot_pass_for_a_wechat_follower(resident_stack: ResidentStack) -> None:
    follower = new_sender("wechat")  # shaped like an OpenID: the WeChat channel's alone
    body = {"sender": follower, "message": "我想查进度", "input_channel": "wechat"}
    refused = httpx.post(f"{resident_stack.stack.rasa}/webhooks/rest/webhook", json=body, timeout=60)
    assert refused.status_code == 400 and user_events(resident_stack, follower) == []
    sender = new_sender()  # any other sender may chat, but never as another channel
    httpx.post(f"{resident_stack.stack.rasa}/webhooks/rest/webhook", json=body | {"sender": sender}, timeout=60)
    [event] = user_events(resident_stack, sender)
    assert event["input_channel"] == "rest"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"sender": {"a": 1}, "message": "hi"}'])
def test_a_malformed_rest_body_is_refused_plainly(resident_stack: ResidentStack, body: bytes) -> None:
    answer = httpx.post(
        f"{resident_stack.stack.rasa}/webhooks/rest/webhook",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 400 and "Traceback" not in answer.text
