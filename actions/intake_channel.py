"""Which channel a conversation reached the centre by, as the backend records it on cases and queue tickets, and the
follower's OpenID when it is WeChat (the backend sends its notices there)."""

from __future__ import annotations

from rasa_sdk import Tracker

OPENID_CHANNEL = "wechat"
"""The Rasa input channel whose sender ids are WeChat OpenIDs (bot/channels/wechat.py)."""


def wechat_openid(tracker: Tracker) -> str | None:
    """The follower's OpenID when the conversation is on WeChat, else None (REST chat, voice counter)."""
    return tracker.sender_id if tracker.get_latest_input_channel() == OPENID_CHANNEL else None


def intake_channel(tracker: Tracker, *, proxy: bool = False) -> str:
    """The backend's channel (``backend.models.Channel``): a social worker's proxy filing, the voice counter, a WeChat
    follower, or typed chat over Rasa's REST channel (a web chat, `make chat`)."""
    if proxy:
        return "proxy"
    if tracker.get_slot("interface") == "voice":
        return "counter"
    return "wechat" if tracker.get_latest_input_channel() == OPENID_CHANNEL else "chat"
