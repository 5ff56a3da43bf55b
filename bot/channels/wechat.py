"""The WeChat Official Account as a Rasa input channel: ``/webhooks/wechat/webhook``.

A thin adapter: `wechat.webhook.WeChatWebhook` holds the logic (checks, de-duplication, the 5-second rule) and is
tested without Rasa; this module gives it Sanic routes and a way to run one dialogue turn. The conversation id is
the follower's OpenID. Configured from the environment (WECHAT_TOKEN, WECHAT_APPID, WECHAT_AES_KEY, WECHAT_SECRET,
REDIS_URL; see `wechat.settings`); keys under this channel in credentials.yml override them. Voice notes without
WeChat's recognition go to the counter service's speech recognition (`wechat.voice_notes`, at COUNTER_URL). While the
server runs, a task resends the customer-service messages a failing API did not take (`wechat.delivery.sweep_forever`,
every WECHAT_RETRY_INTERVAL_S), and another keeps the instance's liveness key, by which the other instances know
whether to take over a delivery it claimed (`WeChatWebhook.keep_alive_forever`). A follower's words (typed or
recognised) are cleaned before the dialogue sees them (`bot.channels.resident_text`): their numbers are masked and
kept in the backend's vault.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.resident_text import ResidentText
from security.resident_text import without_command_prefix
from wechat.client import WeChatApi
from wechat.delivery import CustomerService, sweep_forever
from wechat.settings import WeChatSettings
from wechat.state import open_state
from wechat.voice_notes import VoiceNotes
from wechat.webhook import HttpReply, WeChatWebhook

log = logging.getLogger(__name__)

_CREDENTIAL_FIELDS = {"token", "appid", "aes_key", "secret", "api_base_url", "redis_url"}


class WeChatInput(InputChannel):
    """Receives WeChat's messages and events; answers passively or through customer-service messages."""

    def __init__(self, settings: WeChatSettings) -> None:
        self.settings = settings
        if not settings.token:
            log.warning("WECHAT_TOKEN is not set: the WeChat webhook refuses every request")

    @classmethod
    def name(cls) -> str:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WeChatInput:
        overrides = {k: str(v) for k, v in (credentials or {}).items() if k in _CREDENTIAL_FIELDS and v}
        return cls(dataclasses.replace(WeChatSettings.from_env(), **overrides))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        settings = self.settings
        state = open_state(settings)
        api = WeChatApi(settings, state)

        resident_text = ResidentText(self.name())

        async def run_turn(openid: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
            if without_command_prefix(text) == text:
                # The follower's words (`wechat.inbound` takes the "/" off them): numbers masked and kept aside. Only
                # the channel's own messages (menu clicks, scans) still start with "/": intents, passed as they are.
                text = await resident_text.clean(openid, text) or text
            collector = CollectingOutputChannel()
            await on_new_message(UserMessage(text, collector, openid, input_channel=self.name(), metadata=metadata))
            return collector.messages

        # Without an AppID and AppSecret no voice note can be downloaded: they get the request to type at once.
        voice_notes = VoiceNotes(api) if api.configured else None
        customer_service = CustomerService(api, state)
        webhook = WeChatWebhook(settings, state, customer_service, run_turn, voice_notes)
        wechat = Blueprint("wechat_webhook", __name__)
        sweeper: list[asyncio.Task[None]] = []
        heartbeat: list[asyncio.Task[None]] = []

        @wechat.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "safe_mode": settings.safe_mode})

        @wechat.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            return _http(webhook.verify(_query(request)))

        @wechat.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            body = await _bounded_body(request, settings.max_body_bytes)
            if body is None:
                return response.text("payload too large", status=413)
            return _http(await webhook.receive(_query(request), body))

        @wechat.listener("after_server_start")
        async def start_keeping_alive(*_: Any) -> None:
            heartbeat.append(asyncio.create_task(webhook.keep_alive_forever()))

        @wechat.listener("after_server_start")
        async def start_resending(*_: Any) -> None:
            # Customer-service messages the API failed to take are resent by a sweep in each instance.
            if not api.configured:
                log.warning("WECHAT_APPID or WECHAT_SECRET is not set: no customer-service message can be sent")
                return
            task = asyncio.create_task(sweep_forever(customer_service, settings.retry_interval_s))
            sweeper.append(task)

        @wechat.listener("before_server_stop")
        async def stop_resending(*_: Any) -> None:
            await _cancel(sweeper)  # a sweep in progress still sends or keeps the messages it holds

        @wechat.listener("before_server_stop")
        async def finish_late_answers(*_: Any) -> None:
            await webhook.drain()

        @wechat.listener("after_server_stop")
        async def stop_keeping_alive(*_: Any) -> None:
            # Not before the server stops: Sanic runs before_server_stop while requests are still being answered, and
            # a turn still running must not be taken over by another instance.
            await _cancel(heartbeat)

        return wechat


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the background tasks and wait for them to end."""
    while tasks:
        task = tasks.pop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _query(request: Request) -> dict[str, str]:
    return {key: values[0] for key, values in request.args.items() if values}


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to exceed ``limit`` bytes (before reading it all)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    while True:
        chunk = await request.stream.read()
        if chunk is None:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            return None


def _http(reply: HttpReply) -> HTTPResponse:
    return response.text(reply.body, status=reply.status, content_type=reply.content_type)
