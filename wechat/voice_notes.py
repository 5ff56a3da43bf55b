"""The project's own recognition of WeChat voice notes that arrive without WeChat's ``Recognition`` text.

WeChat transcribes a voice note only when the Official Account has speech recognition switched on, and even then
sometimes sends it empty. For such a note the webhook calls this hook (`wechat.inbound.VoiceRecognizer`) with the
MediaId: it downloads the note through the one WeChat client and posts the bytes to the counter service's
``POST /speech/recognize`` (`counter.speech`), where vosk and its model live (the Rasa process that runs this stays
light). The counter service is found at COUNTER_URL, else ``http://127.0.0.1:$COUNTER_PORT`` (5090).

The hook runs before the dialogue turn, inside WeChat's 5 seconds, so the whole of it is held to `BUDGET_S`. Any
failure (download refused, counter service down or without a model, audio it cannot decode, out of time) gives None,
and the
follower gets the polite request to type. Logs name what failed, never the follower, the MediaId or the words:
the exceptions of the WeChat client carry URLs with the MediaId and the access token, so only their type is logged.
The counter service is called with the standard library (urllib), which both environments have, with the "channels"
service token (`security.tokens`, read for each note: the backend may have made it after Rasa started).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from security.tokens import bearer_headers
from wechat.client import WeChatApi, errcode

log = logging.getLogger(__name__)

RECOGNIZE_PATH = "/speech/recognize"
DEFAULT_COUNTER_PORT = "5090"
BUDGET_S = 3.0
"""Seconds for download and recognition together: what is left of WeChat's 5 s must do for the turn."""


@dataclass(frozen=True)
class VoiceNoteSettings:
    """Where speech recognition is, and how long a voice note may take."""

    counter_url: str = "http://127.0.0.1:5090"
    """COUNTER_URL (else ``http://127.0.0.1:$COUNTER_PORT``): the counter service, which recognises speech."""
    budget_s: float = BUDGET_S
    """Seconds for download and recognition together."""

    def __post_init__(self) -> None:
        if not self.counter_url.startswith(("http://", "https://")):
            raise ValueError(f"COUNTER_URL must be an http(s) URL, got {self.counter_url!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> VoiceNoteSettings:
        env = os.environ if environ is None else environ
        port = env.get("COUNTER_PORT", "").strip() or DEFAULT_COUNTER_PORT
        return cls(counter_url=(env.get("COUNTER_URL", "").strip() or f"http://127.0.0.1:{port}").rstrip("/"))


class VoiceNotes:
    """Recognises a voice note by its MediaId: the `VoiceRecognizer` hook of `wechat.webhook.WeChatWebhook`."""

    def __init__(self, api: WeChatApi, settings: VoiceNoteSettings | None = None) -> None:
        self.api = api
        self.settings = settings or VoiceNoteSettings.from_env()

    async def __call__(self, media_id: str) -> str | None:
        """The words of the note, or None when nothing was understood or something failed."""
        try:
            return await asyncio.wait_for(self._recognize(media_id), self.settings.budget_s)
        except asyncio.TimeoutError:  # noqa: UP041 (on Python 3.10, where this runs inside Rasa, not TimeoutError)
            log.warning("voice note not recognised within %.1f s; asking to type", self.settings.budget_s)
        except Exception as exc:  # whatever failed, the follower is asked to type
            code = errcode(exc)
            log.warning(
                "voice note not recognised (%s%s); the follower is asked to type",
                type(exc).__name__,
                f", WeChat errcode {code}" if code is not None else "",
            )
        return None

    async def _recognize(self, media_id: str) -> str | None:
        audio = await self.api.download_media(media_id)
        if not audio:
            log.warning("voice note without audio; the follower is asked to type")
            return None
        return await asyncio.to_thread(self._post, audio)

    def _post(self, audio: bytes) -> str | None:
        """Blocking: run in a thread. The counter service's answer as text, None for nothing heard or a refusal."""
        request = urllib.request.Request(
            self.settings.counter_url + RECOGNIZE_PATH,
            data=audio,
            headers={"Content-Type": "application/octet-stream"} | bearer_headers("channels"),
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.settings.budget_s) as response:
                heard = json.loads(response.read())
        except urllib.error.HTTPError as refused:
            code = _error_code(refused)
            if refused.code == 503:
                log.warning("the counter service recognises no speech now (%s); the follower is asked to type", code)
            else:
                log.warning("the counter service refused a voice note (HTTP %d, %s)", refused.code, code)
            return None
        text = str(heard.get("text") or "").strip()
        log.info(
            "voice note recognised: %.1f s, %d characters, confidence %.2f",
            float(heard.get("seconds") or 0),
            len(text),
            float(heard.get("confidence") or 0),
        )
        return text or None


def _error_code(refused: urllib.error.HTTPError) -> str:
    """The counter service's machine code of an error (``{"error": {"code": ...}}``), without its message."""
    try:
        return str(json.loads(refused.read())["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "no error code"
