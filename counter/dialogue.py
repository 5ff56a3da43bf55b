"""The counter's own decisions in front of the dialogue, and its one path to Rasa's REST webhook.

A turn: what the resident said (recognised speech with its confidence, or a tap or typing at 1.0) → the counter's
decision → the dialogue over Rasa's REST channel (the same item resolver and pinyin repair as every channel;
``{"interface": "voice"}`` asks the bot for one question at a time). What the counter decides itself, before the
dialogue:

- heard with low confidence: it asks "您说的是：…，对吗？" and acts only on a yes;
- heard nothing (or a no) twice in a row: it offers the screen's buttons and the staff;
- "重复": the last answer again, at once, without asking the bot;
- "办完了": goodbye, and the turn says the resident has finished (`Turn.finished`), so the counter ends the
  resident's session; a turn whose answer gives a case number or a queue number says so too (`Turn.served`).

The screen, the microphone and ``bin/jiujin counter --wav`` all go through `Counter.hear`, which never blocks the
event loop: Rasa is asked with httpx's asynchronous client.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field

import httpx

from vocabulary.case_numbers import CASE_NUMBER
from vocabulary.tickets import TICKET_NUMBER

log = logging.getLogger(__name__)

CONFIRM_BELOW = 0.6
"""Recognition confidence under which the counter asks before acting."""
MAX_FAILURES = 2
"""Failures to understand in a row after which the counter offers the buttons and the staff."""
RASA_TIMEOUT_S = 30.0
"""Seconds the counter waits for the bot's answer before it apologises."""
NOT_HEARD = "抱歉，我没有听清，请您再说一遍。"
OFFER_HELP = "您可以点屏幕上的按钮，或者说“找工作人员”，工作人员马上过来。"
NO_MODEL = "语音识别暂时不能用，请点屏幕上的按钮，或者找工作人员。"
BACKEND_DOWN = "抱歉，系统有点忙，请稍等一下再说，或者找工作人员。"
COUNTER_CLOSED = "这台服务台暂时不能用，请找工作人员。"
GOODBYE = "好的，您慢走。下一位居民可以开始了。"
DONE_WORDS = ("办完了", "结束服务", "再见")
REPEAT_WORDS = ("重复", "再说一遍", "没听清")
YES_WORDS = ("对", "是", "没错", "嗯", "好")
NO_WORDS = ("不", "错", "没有")

SERVED = re.compile(
    rf"办件编号是\s*{CASE_NUMBER.pattern}|您的号码是\s*{TICKET_NUMBER.pattern}|已经有一个号\s*{TICKET_NUMBER.pattern}"
)
"""The bot's answers that give a case number (utter_case_filed) or a queue number (utter_ticket_taken, or the one
already waiting): the turn served the resident, whose session then ends a short while later. Matched on the
answer's text because Rasa's REST channel returns nothing else; keep it in step with those responses in
``bot/domain/shared.yml``."""


def confirmation(text: str) -> str:
    """The question that checks an unsure recognition."""
    return f"您说的是：{text}，对吗？"


def is_done(text: str) -> bool:
    """True when the resident says they have finished ("办完了"), not when they ask whether something is done
    ("我的证办完了吗？")."""
    said = text.strip().rstrip("。！!， ")
    return any(word in said for word in DONE_WORDS) and not said.endswith(("吗", "么", "？", "?", "没有"))


@dataclass
class Turn:
    """One exchange at the counter: what was heard and what the counter answers."""

    heard: str | None
    replies: list[str]
    confidence: float = 1.0
    asked_to_confirm: bool = False
    finished: bool = False
    """The resident said they have finished (办完了): the counter's session for them ends."""
    served: bool = False
    """The answer gave a case number or a queue number (`SERVED`)."""


@dataclass
class CounterSession:
    """One resident at the counter: the conversation id, a heard text waiting for a yes, failures in a row, and
    the last answer (for 重复)."""

    sender: str = field(default_factory=lambda: f"counter-{uuid.uuid4().hex[:12]}")
    pending: str | None = None
    failures: int = 0
    last_replies: list[str] = field(default_factory=list)
    started: bool = False


class Counter:
    """Turns what a resident said into the counter's answer, asking the bot at ``rasa_url`` through ``http``."""

    def __init__(self, rasa_url: str, http: httpx.AsyncClient, *, session: CounterSession | None = None) -> None:
        self.rasa_url = rasa_url.rstrip("/")
        self.http = http
        self.session = session or CounterSession()

    async def hear(self, text: str | None, confidence: float) -> Turn:
        """Decide what to do with a recognised text (None or empty: nothing was understood)."""
        session = self.session
        heard = (text or "").strip()
        if not heard:
            return self._failed(None)
        if is_done(heard):
            session.pending, session.failures = None, 0
            return self._answer(Turn(heard, [GOODBYE], confidence, finished=True))
        if any(word in heard for word in REPEAT_WORDS) and session.last_replies:
            return Turn(heard, list(session.last_replies), confidence)
        if session.pending is not None:
            pending, session.pending = session.pending, None
            if _is_no(heard):
                return self._failed(heard)
            if _is_yes(heard):
                return await self._ask_bot(pending, confidence)
            # Neither yes nor no: the resident said something new; treat it as a new utterance.
        if confidence < CONFIRM_BELOW:
            session.pending = heard
            return self._answer(Turn(heard, [confirmation(heard)], confidence, asked_to_confirm=True))
        return await self._ask_bot(heard, confidence)

    def _failed(self, heard: str | None) -> Turn:
        self.session.failures += 1
        if self.session.failures >= MAX_FAILURES:
            self.session.failures = 0
            return self._answer(Turn(heard, [OFFER_HELP], 0.0))
        return self._answer(Turn(heard, [NOT_HEARD], 0.0))

    async def _ask_bot(self, text: str, confidence: float) -> Turn:
        session = self.session
        body: dict[str, object] = {"sender": session.sender, "message": text}
        if not session.started:
            body["metadata"] = {"interface": "voice"}  # the session starts in the counter's one-at-a-time mode
        try:
            response = await self.http.post(f"{self.rasa_url}/webhooks/rest/webhook", json=body)
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("the dialogue did not answer the counter: %s", type(exc).__name__)
            return self._answer(Turn(text, [BACKEND_DOWN], confidence))
        session.started, session.failures = True, 0
        replies = [str(m["text"]) for m in answer if isinstance(m, dict) and m.get("text")]
        served = any(SERVED.search(reply) for reply in replies)
        return self._answer(Turn(text, replies, confidence, served=served))

    def _answer(self, turn: Turn) -> Turn:
        self.session.last_replies = list(turn.replies)
        return turn


def _is_yes(text: str) -> bool:
    return not _is_no(text) and any(word in text for word in YES_WORDS)


def _is_no(text: str) -> bool:
    return any(word in text for word in NO_WORDS)


def counter_vocabulary() -> list[str]:
    """Phrases the recogniser is biased towards: the counter's own words and every catalog name residents use."""
    from backend.catalog.loader import default_catalog

    names = [name for item in default_catalog().items for name in (item.name, *item.aliases)]
    return [*REPEAT_WORDS, *DONE_WORDS, "返回", "找工作人员", "取号", "绿色通道", *YES_WORDS, "不是", *names]
