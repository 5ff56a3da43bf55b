"""Where a conversation comes from: the backend records the channel, and the follower's OpenID for WeChat notices."""

from __future__ import annotations

from rasa_sdk import Tracker

OPENID_CHANNEL = "wechat"
"""The Rasa input channel whose sender ids are WeChat OpenIDs (bot/channels/wechat.py)."""


def wechat_openid(tracker: Tracker) -> str | None:
    """The follower's OpenID when the conversation is on WeChat, else None (REST, voice counter)."""
    return tracker.sender_id if tracker.get_latest_input_channel() == OPENID_CHANNEL else None


def intake_channel(tracker: Tracker, *, proxy: bool = False) -> str:
    """The backend's channel: a social worker's proxy filing, the voice counter, or online (WeChat and chat)."""
    if proxy:
        return "proxy"
    return "counter" if tracker.get_slot("interface") == "voice" else "wechat"
