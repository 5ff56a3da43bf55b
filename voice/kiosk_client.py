"""The microphone side of a counter session: it sends what was heard to the backend's kiosk endpoint, the same one
the counter's screen uses, and hears back about the turns the screen sent (see `backend.pages.kiosk`).

So one resident's conversation is one session, whichever way they use: the screen shows what was said into the
microphone, and the loudspeaker says the answers to what was tapped.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator

import httpx

from voice.counter import BACKEND_DOWN, Turn

log = logging.getLogger(__name__)

RECONNECT_S = 2.0


class KioskClient:
    """One counter session (``session``, as in the screen's ``/kiosk?session=…``) at the backend ``backend_url``."""

    def __init__(self, backend_url: str, session: str, *, timeout_s: float = 30) -> None:
        self.backend_url, self.session, self.timeout_s = backend_url.rstrip("/"), session, timeout_s

    def hear(self, text: str | None, confidence: float) -> Turn:
        """The counter's answer to what the microphone heard (None: nothing understood)."""
        body = {"session": self.session, "text": (text or "")[:200], "confidence": confidence, "source": "voice"}
        try:
            response = httpx.post(f"{self.backend_url}/kiosk/api/turn", json=body, timeout=self.timeout_s)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("the counter's backend did not answer: %s", type(exc).__name__)
            return Turn(text, [BACKEND_DOWN], confidence)
        record = response.json()
        return Turn(record["heard"], record["replies"], confidence, record["asked_to_confirm"])

    def follow_screen(self, on_turn: Callable[[dict], None], stop: threading.Event) -> None:
        """Call ``on_turn`` with each turn the screen sends, until ``stop`` is set; reconnects after failures,
        resuming where it left off. Blocks: run it on a thread of its own."""
        seen: str | None = None
        while not stop.is_set():
            headers = {"Last-Event-ID": seen} if seen else {}
            try:
                with httpx.stream(
                    "GET",
                    f"{self.backend_url}/kiosk/api/events",
                    params={"session": self.session},
                    headers=headers,
                    timeout=httpx.Timeout(self.timeout_s, read=None),
                ) as response:
                    response.raise_for_status()
                    for kind, event_id, data in _events(response.iter_lines()):
                        seen = event_id or seen
                        if kind == "turn" and data.get("source") == "screen":
                            on_turn(data)
                        if stop.is_set():
                            return
            except httpx.HTTPError as exc:
                log.info("the counter's screen stream dropped (%s); reconnecting", type(exc).__name__)
            stop.wait(RECONNECT_S)


def _events(lines: Iterable[str]) -> Iterator[tuple[str, str | None, dict]]:
    """(event, id, data) of each server-sent event in ``lines``; a keep-alive comment gives ("comment", None, {}),
    so the reader can look up between events."""
    kind, event_id, data = "message", None, []
    for line in lines:
        if line.startswith(":"):
            yield "comment", None, {}
        elif not line:
            if data:
                yield kind, event_id, json.loads("\n".join(data))
            kind, event_id, data = "message", None, []
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
