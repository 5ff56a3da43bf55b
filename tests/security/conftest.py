"""What the attacker tests of tests/security share: one real dialogue stack for the tests that talk to the bot."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from backend.testing import MODEL, DialogueStack, wechat_dialogue_stack
from security.tokens import bearer_headers

WECHAT_ENV = {
    "WECHAT_TOKEN": "security-token",
    "WECHAT_APPID": "wxsecurity0000001",
    "WECHAT_SECRET": "security-secret",
    "WECHAT_AES_KEY": "SecurityTestAesKeyForTheWeChatChannel012345",
}
"""A WeChat channel of the tests' own (its API is the simulator): OpenIDs reach the actions only through it."""


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


@pytest.fixture(scope="package")
def resident_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ResidentStack]:
    """One stack for every test of this package that talks to the bot (Rasa takes a minute or two to start)."""
    if not MODEL.exists():
        pytest.fail("no trained model: run 'make model' (make test does it first)")
    folder = tmp_path_factory.mktemp("resident-stack")
    # The same secrets folder as this test process (tests/conftest.py), so bearer_headers() reads the stack's tokens.
    env = {"JIUJIN_SECRETS_DIR": os.environ["JIUJIN_SECRETS_DIR"]}
    with wechat_dialogue_stack(folder, WECHAT_ENV, env=env) as (stack, simulator):
        yield ResidentStack(stack, simulator)
