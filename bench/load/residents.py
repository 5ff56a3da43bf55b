"""A locustfile: residents talking to 就近办助手 over WeChat and over Rasa's REST channel, in whole conversations.

    .venv/bin/locust -f bench/load/residents.py --headless --host http://127.0.0.1:5005 -u 10 -r 2 -t 60s

The host is the front (nginx, or one Rasa server): the webhooks are /webhooks/wechat/webhook and
/webhooks/rest/webhook under it. Each user plays one resident after another; each resident plays a script drawn by
weight from conversations.py, pausing before every message as a person typing on a phone does. WeChat residents
post what WeChat's servers post: signed, encrypted in safe mode, with WeChat's 5-second patience, and read the
passive reply. Every turn is one entry in locust's statistics: "wechat: text", "wechat: subscribe", "wechat: CLICK",
"rest: text".

A WeChat turn fails when no HTTP answer came within 5 s, the answer was not 200 or not a reply WeChat could show,
the reply was the acknowledgement (the answer missed the passive window and went by customer service), or the
round trip took longer than 4.5 s. A REST turn fails on a non-200 answer or a round trip over 4.5 s.

Settings, from the environment (see LoadSettings): WECHAT_TOKEN, WECHAT_APPID, WECHAT_AES_KEY as the webhook was
started with; LOAD_THINK_MIN_S, LOAD_THINK_MAX_S, LOAD_WARMUP_S, LOAD_SCRIPTS.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import gevent
from conversations import SCRIPTS, Event, Resident, Say, Script, Step, chosen, draw, new_resident, words
from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment

from simulators.wechat.wechat_server import ReplyError, WeChatServer, shown_text
from wechat.settings import WeChatSettings
from wechat.webhook import ACKNOWLEDGEMENT

logger = logging.getLogger(__name__)

WECHAT_PATH = "/webhooks/wechat/webhook"
REST_PATH = "/webhooks/rest/webhook"
WECHAT_TIMEOUT_S = 5.0
"""WeChat waits this long for the webhook's answer, then gives up on the attempt."""
LIMIT_S = 4.5
"""The round trip every turn must stay within (WeChat's 5 s less a margin for the network)."""
OPENID_CHARACTERS = string.ascii_letters + string.digits + "-_"


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError as exc:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from exc
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {raw!r}")
    return value


@dataclass(frozen=True)
class LoadSettings:
    """How the residents behave."""

    think_min_s: float = 3.0
    """LOAD_THINK_MIN_S: shortest pause before a message, in seconds (reading the answer, typing on a phone)."""
    think_max_s: float = 8.0
    """LOAD_THINK_MAX_S: longest pause before a message, in seconds."""
    warmup_s: float = 0.0
    """LOAD_WARMUP_S: statistics are reset this many seconds after the start, so they cover the steady state."""
    scripts: tuple[Script, ...] = SCRIPTS
    """LOAD_SCRIPTS: comma-separated name patterns of the scripts to play ("file_*,take_number"); default all."""

    @classmethod
    def from_env(cls) -> LoadSettings:
        think_min, think_max = (
            _seconds("LOAD_THINK_MIN_S", cls.think_min_s),
            _seconds("LOAD_THINK_MAX_S", cls.think_max_s),
        )
        if think_max < think_min:
            raise ValueError(f"LOAD_THINK_MAX_S ({think_max}) is below LOAD_THINK_MIN_S ({think_min})")
        return cls(think_min, think_max, _seconds("LOAD_WARMUP_S", 0.0), chosen(os.environ.get("LOAD_SCRIPTS", "")))


SETTINGS = LoadSettings.from_env()


def wechat_verdict(
    status: int, body: bytes | None, elapsed_s: float, server: WeChatServer, openid: str, error: object = None
) -> str | None:
    """Why a WeChat turn failed, or None when the follower got the answer itself in time."""
    if status == 0:
        if elapsed_s >= WECHAT_TIMEOUT_S * 0.99:
            return f"no HTTP answer within {WECHAT_TIMEOUT_S:.0f} s"
        return f"no HTTP answer ({type(error).__name__})"
    if status != 200:
        return f"HTTP {status}"
    try:
        reply = server.read_reply(body or b"", openid)
    except ReplyError as exc:
        return f"reply WeChat cannot show: {exc}"
    if reply is not None and shown_text(reply) == ACKNOWLEDGEMENT:
        return "acknowledged: the answer missed the passive reply"
    if elapsed_s > LIMIT_S:
        return f"round trip over {LIMIT_S} s"
    return None


def rest_verdict(status: int, elapsed_s: float, error: object = None) -> str | None:
    """Why a REST turn failed, or None."""
    if status == 0:
        return f"no HTTP answer ({type(error).__name__})"
    if status != 200:
        return f"HTTP {status}"
    if elapsed_s > LIMIT_S:
        return f"round trip over {LIMIT_S} s"
    return None


class _Resident(FastHttpUser):
    """One resident after another, each playing a whole conversation; the channel is the subclass's."""

    abstract = True
    wechat = False
    wait_time = between(SETTINGS.think_min_s, SETTINGS.think_max_s)

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.rng = random.Random()
        self.sender = ""
        self.last_filer: tuple[Resident, str] | None = None
        """The resident (and sender id) of the last case this user filed: a returning resident asks about it."""

    def on_start(self) -> None:
        # Residents do not all start typing in the same second.
        gevent.sleep(self.rng.uniform(0, SETTINGS.think_max_s))

    @task
    def converse(self) -> None:
        """One resident's whole conversation (locust's wait_time then separates it from the next one's)."""
        script = draw(self.rng, SETTINGS.scripts, wechat=self.wechat)
        if script.returning and self.last_filer:
            resident, self.sender = self.last_filer
        else:
            resident, self.sender = new_resident(self.rng, script.ages), self.new_sender()
        for n, step in enumerate(script.steps):
            if n:
                self.wait()
            self.turn(step, resident)
        if script.files_case:
            self.last_filer = (resident, self.sender)

    def new_sender(self) -> str:
        raise NotImplementedError

    def turn(self, step: Step, resident: Resident) -> None:
        raise NotImplementedError


class WeChatResident(_Resident):
    """A follower of the Official Account: WeChat's servers carry each message to the webhook."""

    weight = 3
    wechat = True
    network_timeout = WECHAT_TIMEOUT_S
    connection_timeout = WECHAT_TIMEOUT_S

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        settings = WeChatSettings.from_env()
        if not settings.token:
            raise ValueError("WECHAT_TOKEN (and WECHAT_APPID, WECHAT_AES_KEY) must be set as the webhook has them")
        # Only its signing, encryption and reply reading are used: the posting is locust's.
        self.server = WeChatServer(f"{self.host}{WECHAT_PATH}", settings, timeout_s=WECHAT_TIMEOUT_S)

    def new_sender(self) -> str:
        # OpenIDs are 28 characters; "oLoad" marks the load generator's followers in the backend's cases.
        return "oLoad" + "".join(secrets.choice(OPENID_CHARACTERS) for _ in range(23))

    def turn(self, step: Step, resident: Resident) -> None:
        fields: dict[str, Any]
        if isinstance(step, Event):
            fields = {"Event": step.event} | ({"EventKey": step.key} if step.key else {})
            xml, kind = self.server.build_xml(self.sender, "event", **fields), step.event
        else:
            fields = {"Content": words(step, resident), "MsgId": int(self.server.new_msg_id())}
            xml, kind = self.server.build_xml(self.sender, "text", **fields), "text"
        body, query = self.server.envelope(xml, self.sender)
        with self.client.post(
            f"{WECHAT_PATH}?{urlencode(query)}",
            data=body,
            headers={"Content-Type": "text/xml"},
            name=f"wechat: {kind}",
            catch_response=True,
        ) as response:
            elapsed_s = response.request_meta["response_time"] / 1000
            status, error = response.status_code, getattr(response, "error", None)
            why = wechat_verdict(status, response.content, elapsed_s, self.server, self.sender, error)
            if why:
                response.failure(why)
            else:
                response.success()


class RestResident(_Resident):
    """Someone chatting through Rasa's REST channel (the web chat, the kiosk's page)."""

    weight = 1
    network_timeout = 60.0
    connection_timeout = 10.0

    def new_sender(self) -> str:
        return f"rest-load-{secrets.token_hex(8)}"

    def turn(self, step: Step, resident: Resident) -> None:
        if not isinstance(step, Say):
            raise TypeError(f"the REST channel has no events: {step}")
        payload = {"sender": self.sender, "message": words(step, resident)}
        with self.client.post(REST_PATH, json=payload, name="rest: text", catch_response=True) as response:
            elapsed_s = response.request_meta["response_time"] / 1000
            why = rest_verdict(response.status_code, elapsed_s, getattr(response, "error", None))
            if why:
                response.failure(why)
            else:
                response.success()


@events.test_start.add_listener
def _measure_after_warm_up(environment: Environment, **_: Any) -> None:
    """Reset the statistics once the warm-up is over, so they describe the steady state alone."""
    if SETTINGS.warmup_s <= 0 or environment.runner is None:
        return
    runner = environment.runner

    def reset() -> None:
        logger.info("warm-up of %.0f s over: statistics reset, measuring", SETTINGS.warmup_s)
        runner.stats.reset_all()

    gevent.spawn_later(SETTINGS.warmup_s, reset)
