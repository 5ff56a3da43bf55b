"""What each kind of WeChat message asks of the bot: a dialogue turn with some text, a direct answer, or nothing.

Menu clicks and QR-code scans become Rasa intent messages ("/browse_department{...}"), which skip NLU and go
straight to the rules; voice notes use WeChat's own recognition, else the project's recognizer when one is
configured, else a polite request to type. Someone who follows the account by scanning a code gets "/follow" with
what the code asks for as an entity, so the rules welcome them first and then answer it. What a follower typed or
said never starts with "/" (`security.resident_text.without_command_prefix`): only the channel's own messages are
intents, and the channel masks the numbers in the others (`bot.channels.resident_text`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from wechatpy.events import BaseEvent
from wechatpy.messages import BaseMessage, TextMessage, VoiceMessage

from security.resident_text import without_command_prefix
from vocabulary.scenes import ITEM_PREFIX, QUEUE, ticket_in_scene
from wechat.menu import ALL_ITEMS_KEY, DEPARTMENT_KEYS, PROGRESS_KEY, STAFF_KEY, TAKE_NUMBER_KEY

log = logging.getLogger(__name__)

VoiceRecognizer = Callable[[str], Awaitable[str | None]]
"""Recognizes a voice note by its MediaId (downloading it through the client); None when nothing was understood."""

ONLY_TEXT_AND_VOICE = "抱歉，我目前只能看懂文字和语音。请用文字告诉我您要办什么，比如“我想办居住证”。"
VOICE_NOT_UNDERSTOOD = "抱歉，这条语音我没有听清。请用文字告诉我您要办什么，比如“我想办居住证”。"
MENU_KEY_UNKNOWN = "这个菜单暂时用不了，请直接告诉我您要办什么。"
SCENE_PREFIX = "qrscene_"


@dataclass(frozen=True)
class Inbound:
    """What to do with one WeChat message."""

    text: str | None = None
    """A dialogue turn with this text: the channel's intent message ("/take_number"), or the follower's words (never
    starting with "/")."""
    reply: str | None = None
    """Answer directly, without the bot."""
    from_follower: bool = True
    """The follower did something (wrote, tapped, followed, scanned): opens the customer-service allowance."""
    unfollowed: bool = False
    """The follower left: nothing more may be sent to them."""
    metadata: dict[str, Any] = field(default_factory=dict)


NOTHING = Inbound(from_follower=False)


def intent(name: str, **entities: str) -> str:
    """A Rasa intent message: "/name" or "/name{json}"."""
    return f"/{name}{json.dumps(entities, ensure_ascii=False)}" if entities else f"/{name}"


def menu_click(key: str) -> Inbound:
    if key in DEPARTMENT_KEYS:
        return Inbound(text=intent("browse_department", department=DEPARTMENT_KEYS[key]))
    turns = {
        PROGRESS_KEY: intent("check_progress"),
        TAKE_NUMBER_KEY: intent("take_number"),
        ALL_ITEMS_KEY: intent("menu"),
        STAFF_KEY: intent("ask_human"),
    }
    if key in turns:
        return Inbound(text=turns[key])
    return Inbound(reply=MENU_KEY_UNKNOWN)


def qr_scene(scene: str) -> Inbound:
    """A follower scanned one of the centre's QR codes (`vocabulary.scenes`): a queue ticket's, an item's poster, the
    number machine's; other scenes greet."""
    if ticket := ticket_in_scene(scene):
        return Inbound(text=intent("follow_ticket", ticket=ticket))
    if scene.startswith(ITEM_PREFIX):
        return Inbound(text=intent("request_item", item=scene.removeprefix(ITEM_PREFIX)))
    if scene == QUEUE:
        return Inbound(text=intent("take_number"))
    return Inbound(text=intent("greet"))


def followed_by_scene(scene: str) -> Inbound:
    """Someone followed the account by scanning a code: welcomed first (the rules of "/follow" with an entity), then
    answered as a follower who scanned it; a code of no known scene gets the plain welcome."""
    entities: dict[str, str] = {}
    if ticket := ticket_in_scene(scene):
        entities = {"ticket": ticket}
    elif scene.startswith(ITEM_PREFIX):
        entities = {"item": scene.removeprefix(ITEM_PREFIX)}
    elif scene == QUEUE:
        entities = {"number_machine": QUEUE}
    return Inbound(text=intent("follow", **entities), metadata={"scene": scene} if scene else {})


async def interpret(message: BaseMessage, recognize: VoiceRecognizer | None) -> Inbound:
    """Decide what ``message`` asks for."""
    if isinstance(message, TextMessage):
        # wechatpy reads an empty Content as None; a typed "/intent{…}" is words, not an intent.
        return Inbound(text=without_command_prefix((message.content or "").strip()) or "？")
    if isinstance(message, VoiceMessage):
        return await _voice(message, recognize)
    if isinstance(message, BaseEvent):
        return _event(message)
    return Inbound(reply=ONLY_TEXT_AND_VOICE)


async def _voice(message: VoiceMessage, recognize: VoiceRecognizer | None) -> Inbound:
    heard = without_command_prefix((message.recognition or "").strip().rstrip("。"))
    if heard:
        return Inbound(text=heard, metadata={"heard_by": "wechat"})
    if recognize is not None and message.media_id:
        try:
            heard = without_command_prefix(((await recognize(message.media_id)) or "").strip())
        except Exception:
            log.exception("the voice note could not be recognized")
            heard = ""
        if heard:
            return Inbound(text=heard, metadata={"heard_by": "jiujin"})
    return Inbound(reply=VOICE_NOT_UNDERSTOOD)


def _event(event: BaseEvent) -> Inbound:
    kind = event.event.lower()
    key = str(getattr(event, "key", None) or getattr(event, "scene_id", None) or "")
    if kind in {"subscribe", "subscribe_scan"}:
        return followed_by_scene(key.removeprefix(SCENE_PREFIX))
    if kind == "scan":
        return qr_scene(key.removeprefix(SCENE_PREFIX))
    if kind == "click":
        return menu_click(key)
    if kind == "unsubscribe":
        return Inbound(from_follower=False, unfollowed=True)
    # Other events (VIEW: a menu link opened, LOCATION, TEMPLATESENDJOBFINISH …) need no answer, and WeChat opens no
    # customer-service allowance for them.
    return NOTHING
