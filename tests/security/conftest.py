"""What the attacker tests of tests/security share: the run's one dialogue stack (tests/conftest.py), seen as a
resident talks to it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from harness.dialogue import DialogueStack
from security.tokens import bearer_headers
from tests.conftest import SharedDialogue


@dataclass(frozen=True)
class ResidentStack:
    """Backend, action server and Rasa as real processes, with WeChat's servers simulated; ``say`` talks over Rasa's
    REST channel, ``wechat`` as a follower through the WeChat channel, ``api`` calls the backend as a tool."""

    stack: DialogueStack
    simulator: str

    def say(self, sender: str, text: str) -> str:
        """The bot's replies to one REST message, joined."""
        answer = httpx.post(
            f"{self.stack.rasa}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60
        )
        answer.raise_for_status()
        return "\n".join(str(reply.get("text", "")) for reply in answer.json())

    def wechat(self, openid: str, text: str) -> str:
        """What a follower sees after sending ``text`` on WeChat."""
        message = {"openid": openid, "type": "text", "content": text}
        delivery = httpx.post(f"{self.simulator}/simulator/messages", json=message, timeout=60).json()
        return str(delivery.get("shown_to_user") or "")

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The backend's internal API with the tools token (as bin/jiujin and operators call it)."""
        return httpx.request(method, f"{self.stack.backend}/api/v1{path}", headers=bearer_headers("tools"), **kwargs)


def new_sender(kind: str = "rest") -> str:
    """A conversation nobody has used: a REST sender id, or a WeChat OpenID ("wechat")."""
    return f"o{uuid.uuid4().hex[:27]}" if kind == "wechat" else f"stranger-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def resident_stack(shared_dialogue: SharedDialogue) -> ResidentStack:
    """The shared dialogue stack, for talking to it as residents and followers do."""
    return ResidentStack(shared_dialogue.stack, shared_dialogue.simulator)
