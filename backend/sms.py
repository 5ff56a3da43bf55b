"""Text messages to residents (the 代办 consent code): one small interface, chosen by the ``SMS_SENDER`` setting.

No SMS gateway is reachable from these machines, so the only sender today is the development outbox: each message
is appended as one JSON line to ``SMS_OUTBOX_PATH`` (where a developer, or a test, reads the code; the file is its
owner's alone, 0600, and holds the phone masked) and logged with the phone masked and without its text. Production
(JIUJIN_ENV=production) refuses the outbox: its codes are live. A production gateway is one more `SmsSender`
subclass and one more entry in `SENDERS`; its client is created in `create_sender`, at start-up, never at import
time.
"""

from __future__ import annotations

import abc
import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from backend.config import Settings
from backend.models import utcnow
from vocabulary.masking import mask_phone

logger = logging.getLogger(__name__)


class SmsError(Exception):
    """A message could not be sent; the message names the sender and why (never the text or the whole phone)."""


class SmsSender(abc.ABC):
    """Sends one text message to a mainland mobile number."""

    name: str = ""

    @abc.abstractmethod
    async def send(self, phone: str, text: str, *, purpose: str) -> None:
        """Send ``text`` to ``phone`` (11 digits); ``purpose`` names why (for logs). Raises `SmsError`."""


class OutboxSender(SmsSender):
    """Development sender: appends ``{"at", "phone" (masked), "purpose", "text"}`` lines to a file instead of
    sending."""

    name = "outbox"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # one line at a time from this process's threads

    async def send(self, phone: str, text: str, *, purpose: str) -> None:
        line = json.dumps(
            {"at": utcnow().isoformat(), "phone": mask_phone(phone), "purpose": purpose, "text": text},
            ensure_ascii=False,
        )
        try:
            await asyncio.to_thread(self._append, line)
        except OSError as exc:
            raise SmsError(f"SMS outbox {self.path}: {exc.strerror or exc}") from None
        logger.info("sms (%s) to %s written to the outbox", purpose, mask_phone(phone))

    def _append(self, line: str) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(descriptor, "a", encoding="utf-8") as out:
                out.write(line + "\n")


SENDERS: dict[str, Callable[[Settings], SmsSender]] = {
    "outbox": lambda settings: OutboxSender(settings.sms_outbox_path),
}
"""SMS_SENDER values and how each sender is built from the settings."""


def create_sender(settings: Settings) -> SmsSender:
    """The sender ``settings.sms_sender`` names; a ValueError naming the known ones for anything else."""
    factory = SENDERS.get(settings.sms_sender)
    if factory is None:
        known = ", ".join(sorted(SENDERS))
        raise ValueError(f"SMS_SENDER: unknown sender {settings.sms_sender!r} (known: {known})")
    return factory(settings)
