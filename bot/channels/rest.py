"""Rasa's REST channel, with the resident's text cleaned first: ``POST /webhooks/rest/webhook`` (fixed contract).

Chat pages, the voice counter and ``make chat`` talk to the bot here. Compared with Rasa's own `RestInput`:

- the text goes through `bot.channels.resident_text.ResidentText` before Rasa sees it: a leading "/" is dropped
  (a caller cannot send intents with entities of its choosing), ID numbers and phones are masked and deposited in
  the backend's vault;
- the conversation's input channel is always "rest": a caller naming another (``"input_channel": "wechat"``)
  would otherwise pass for a WeChat follower, whose sender id the actions take for an OpenID;
- a sender id shaped like a WeChat OpenID is refused (400): Rasa keys conversations by sender alone, so a REST caller
  who knew a follower's OpenID would otherwise write into, and read back from, that follower's conversation;
- a body that is not a JSON object, or a sender or message that is not text, gets 400 instead of a stack trace;
- failures are logged without the resident's words.

``?stream=true`` answers line by line as Rasa's channel does.
"""

from __future__ import annotations

import logging
import re
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from rasa.shared.constants import DEFAULT_SENDER_ID
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from bot.channels.resident_text import ResidentText

log = logging.getLogger(__name__)

WECHAT_OPENID = re.compile(r"o[0-9A-Za-z_-]{27}")
"""The shape of an Official Account's OpenID: a sender id the WeChat channel alone may use."""


class RestInput(RasaRestInput):
    """Rasa's REST channel ("rest"), cleaning the resident's text and keeping the input channel its own."""

    def __init__(self, resident_text: ResidentText | None = None) -> None:
        self.resident_text = resident_text or ResidentText(self.name())

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> RestInput:
        return cls()

    def _extract_input_channel(self, req: Request) -> str:
        return self.name()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        rest = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @rest.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @rest.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse | ResponseStream:
            try:
                body = request.json
            except Exception:  # Sanic refuses a body that is not JSON with its own error: answer it plainly
                body = None
            if not isinstance(body, dict):
                return response.json({"error": "a JSON object is expected"}, status=400)
            sender, text, metadata = body.get("sender"), body.get("message"), body.get("metadata")
            if not isinstance(sender, (str, int, type(None))) or not isinstance(text, (str, type(None))):
                return response.json({"error": "sender and message must be text"}, status=400)
            sender_id = DEFAULT_SENDER_ID if sender is None else str(sender)
            if WECHAT_OPENID.fullmatch(sender_id):
                return response.json({"error": "this sender id belongs to a WeChat follower"}, status=400)
            text = await self.resident_text.clean(sender_id, text)
            metadata = metadata if isinstance(metadata, dict) else None
            if bool_arg(request, "stream", default=False):
                return response.stream(
                    self.stream_response(on_new_message, text, sender_id, self.name(), metadata),
                    content_type="text/event-stream",
                )
            collector = CollectingOutputChannel()
            try:
                await on_new_message(
                    UserMessage(text, collector, sender_id, input_channel=self.name(), metadata=metadata)
                )
            except CancelledError:
                log.error("a REST turn was cancelled (timeout)")
            except Exception:  # the text is masked by now: the traceback may be logged
                log.exception("a REST turn failed")
            return response.json(collector.messages)

        return rest
