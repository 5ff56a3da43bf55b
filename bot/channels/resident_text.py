"""The one place where Rasa's channels clean what a resident typed or said, before the dialogue (and its tracker) sees
it: no leading "/" (never an intent), no ID number or phone in clear (`security.resident_text.clean`).

Each number taken out is deposited in the backend's vault (``POST /api/v1/vault/deposits`` with the "channels"
service token) under the conversation (this channel's name and the sender) and its masked form, where the actions
find it again. The deposit is held to `DEPOSIT_BUDGET_S` (WeChat waits 5 s for a whole turn). If it fails (backend
down, no token, too slow), the text is masked all the same: the number never reaches the tracker, and the action
that needs it asks the resident to say it again.

Used by the REST channel (`bot.channels.rest`: chat, the voice counter, ``make chat``) and the WeChat channel (typed
and recognised text; menu clicks and scans are the channel's own intent messages). Standard library only (urllib in
a worker thread), so it runs inside Rasa and is tested from the app's environment. Logs never carry the text, the
numbers or the sender.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from security.resident_text import clean
from security.tokens import bearer_headers, internal_api_url

log = logging.getLogger(__name__)

DEPOSIT_PATH = "/api/v1/vault/deposits"
DEPOSIT_BUDGET_S = 1.5
"""Seconds a deposit may take; then the turn goes on with the masked text (the number is asked for again)."""
MAX_SENDER_LENGTH = 128
MAX_VALUE_LENGTH = 40
"""The vault keeps numbers of at most this many characters; a longer run of digits is masked and not kept."""

Depositor = Callable[[str, str, Sequence[str]], Awaitable[None]]
"""Keeps (channel, sender, real values) in the vault; raises when it could not."""


@dataclass(frozen=True)
class VaultSettings:
    """Where the backend's vault is, as the action server finds the backend."""

    backend_url: str = "http://127.0.0.1:8000"
    """BACKEND_URL (else ``http://127.0.0.1:$BACKEND_PORT``)."""
    budget_s: float = DEPOSIT_BUDGET_S
    """Seconds a deposit may take."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> VaultSettings:
        """Settings from BACKEND_URL or BACKEND_PORT (`security.tokens.internal_api_url`)."""
        return cls(backend_url=internal_api_url(environ))


class VaultDepositFailed(RuntimeError):
    """The backend did not keep the numbers; the message names the cause, never a number."""


def http_depositor(settings: VaultSettings) -> Depositor:
    """A `Depositor` posting to the backend's vault with the "channels" service token."""
    url = settings.backend_url + DEPOSIT_PATH

    def post(channel: str, sender: str, values: Sequence[str]) -> None:
        body = json.dumps({"channel": channel, "sender": sender, "values": list(values)}).encode("utf-8")
        headers = {"Content-Type": "application/json", **bearer_headers("channels")}
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=settings.budget_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise VaultDepositFailed(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise VaultDepositFailed(type(exc).__name__) from None

    async def deposit(channel: str, sender: str, values: Sequence[str]) -> None:
        await asyncio.to_thread(post, channel, sender, values)

    return deposit


class ResidentText:
    """Cleans the resident texts of one channel (named as Rasa names it: the conversation's input channel)."""

    def __init__(self, channel: str, deposit: Depositor | None = None, *, budget_s: float | None = None) -> None:
        settings = VaultSettings.from_env()
        self.channel = channel
        self.deposit = deposit or http_depositor(settings)
        self.budget_s = settings.budget_s if budget_s is None else budget_s

    async def clean(self, sender: str, text: str | None) -> str | None:
        """``text`` as the dialogue may see it; its numbers deposited for ``sender`` when the backend takes them."""
        if text is None:
            return None
        cleaned = clean(text)
        values = [number.value for number in cleaned.numbers if len(number.value) <= MAX_VALUE_LENGTH]
        if values and 0 < len(sender) <= MAX_SENDER_LENGTH:
            try:
                await asyncio.wait_for(self.deposit(self.channel, sender, values), self.budget_s)
            except asyncio.TimeoutError:  # noqa: UP041 (Python 3.10 inside Rasa: not the builtin TimeoutError)
                log.warning("numbers not kept in the vault within %.1f s; they will be asked for again", self.budget_s)
            except Exception as exc:  # whatever failed, the text goes on masked
                cause = str(exc) if isinstance(exc, VaultDepositFailed) else type(exc).__name__
                log.warning("numbers not kept in the vault (%s); they will be asked for again", cause)
        return cleaned.text
