"""The production configuration for the fault tests: nginx, two Rasa instances, two action servers and two backend
replicas on the local PostgreSQL (throw-away databases), a Redis of the stack's own (so one test can stop it),
the WeChat simulator and the printer simulators. Started once for the tests in this folder (1–3 minutes: two Rasa
instances load their model at once) and stopped after them."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.stack import MODEL, ProductionStack, StackConfig, production_stack
from simulators.wechat.wechat_server import WeChatServer
from tests.conftest import POSTGRES_ADMIN_URL, SKIP_POSTGRES
from wechat.settings import WeChatSettings

FAULT_ENV = {
    "NOTIFIER_INTERVAL_S": "0.2",
    "WECHAT_RETRY_INTERVAL_S": "0.5",
}


@dataclass
class Prod:
    """The running stack with the ways a test talks to it."""

    stack: ProductionStack
    folder: Path

    @property
    def front(self) -> str:
        return self.stack.front

    @property
    def headers(self) -> dict[str, str]:
        """The tools token, for the internal API (as bin/jiujin and operators call it)."""
        return self.stack.headers("tools")

    def say(self, sender: str, text: str, timeout_s: float = 60) -> list[str]:
        """One REST turn through nginx; the bot's texts."""
        response = httpx.post(
            f"{self.front}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=timeout_s
        )
        assert response.status_code == 200, response.text
        return [message.get("text", "") for message in response.json()]

    def wechat(self) -> WeChatServer:
        """WeChat's servers, posting to the webhook behind nginx (signed and encrypted as WeChat does)."""
        settings = WeChatSettings.from_env(self.stack.wechat_env)
        return WeChatServer(f"{self.front}/webhooks/wechat/webhook", settings)

    def wechat_say(self, openid: str, text: str) -> dict[str, Any]:
        """A follower's text through the WeChat simulator (which also opens their customer-service window at its
        API stand-in, as WeChat does); the delivery: ``shown_to_user``, ``attempts`` …"""
        message = {"openid": openid, "type": "text", "content": text}
        response = httpx.post(f"{self.stack.simulator}/simulator/messages", json=message, timeout=30)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def outbound(self, openid: str) -> list[dict[str, Any]]:
        """Every call the WeChat API stand-in received for ``openid``."""
        response = httpx.get(f"{self.stack.simulator}/simulator/outbound", params={"openid": openid}, timeout=10)
        return list(response.json()["calls"])

    def fail_wechat_api(self, calls: int, errcode: int = -1) -> None:
        """Make the WeChat API stand-in fail its next ``calls`` calls (token calls excepted)."""
        response = httpx.post(f"{self.stack.simulator}/simulator/faults", json={"fail": calls, "errcode": errcode})
        assert response.status_code == 200

    def served_by(self, path: str) -> str:
        """The part that answered the last request for ``path``, from nginx's access log."""
        lines = [line for line in (self.folder / "nginx-access.log").read_text().splitlines() if f" {path} " in line]
        upstream = lines[-1].split('"')[1].split(",")[-1].strip()  # "a, b": a failed, b answered
        port = upstream.rsplit(":", 1)[1]
        return next(name for name, part in self.stack.parts.items() if f":{port}/" in (part.health_url or ""))

    def cases_of(self, id_number: str) -> list[dict[str, Any]]:
        query = {"id_number": id_number, "limit": 50}
        response = httpx.get(f"{self.stack.internal}/api/v1/cases", params=query, headers=self.headers, timeout=10)
        assert response.status_code == 200, response.text
        return list(response.json()["cases"])


def in_background(action: Callable[[], Any], after_s: float = 0.0) -> threading.Thread:
    """Run ``action`` in a thread after ``after_s`` seconds (a fault while the test keeps talking)."""

    def run() -> None:
        time.sleep(after_s)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def new_sender() -> str:
    return f"fault-{uuid.uuid4().hex[:10]}"


def case_number_in(replies: list[str]) -> str | None:
    return next((r.split("办件编号是 ")[1][:16] for r in replies if "办件编号是" in r), None)


@pytest.fixture(scope="package")  # stopped after this folder's tests, not kept running through the others
def prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prod]:
    if SKIP_POSTGRES:
        pytest.skip("JIUJIN_SKIP_POSTGRES=1: the production configuration runs on PostgreSQL")
    if not MODEL.exists():
        pytest.fail("no trained model: run 'make model' (make test does it first)")
    folder = tmp_path_factory.mktemp("prod")
    suffix = uuid.uuid4().hex[:8]
    config = StackConfig(
        folder=folder,
        instances=2,
        postgres_admin_url=POSTGRES_ADMIN_URL,
        database=f"jiujin_faults_{suffix}",
        tracker_database=f"jiujin_faults_tracker_{suffix}",
        private_redis=True,
        devices=True,
        env=FAULT_ENV,
        app_role=f"jiujin_faults_{suffix}",
        demo=True,  # development WeChat credentials and the simulator, generated secrets, the SMS outbox
    )
    with production_stack(config, drop_databases=True) as stack:
        yield Prod(stack, folder)
