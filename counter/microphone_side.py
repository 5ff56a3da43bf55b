"""The microphone side of a counter, as a client of the counter service: it sends what was heard to
``POST /kiosk/api/turn``, the same endpoint the counter's screen uses, and hears about the turns the screen sent
from ``GET /kiosk/api/events`` (server-sent events, read with httpx-sse).

Both sides authenticate as the counter (its credential in the ``X-Counter-Key`` header, `security.counter_keys`) and
share the counter's current resident session, which the counter service opens and ends: one resident's conversation
is one session, whichever way they use. The screen shows what was said into the microphone, and the loudspeaker says
the answers to what was tapped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import httpx
from httpx_sse import SSEError, connect_sse

from counter.dialogue import BACKEND_DOWN, COUNTER_CLOSED, Turn
from counter.kiosk import KEEPALIVE_S, KEY_HEADER

log = logging.getLogger(__name__)

RECONNECT_S = 2.0
REFUSED_RETRY_S = 30.0
"""After the counter service refused the credential: try again this much later (the counter may be added again)."""
STREAM_READ_S = KEEPALIVE_S + 5
"""A stream silent for longer than this (no event, no keep-alive) is dead: reconnect. It also bounds how long
`MicrophoneSide.follow_screen` takes to notice its ``stop``."""


class MicrophoneSide:
    """The microphone side of one counter at the counter service ``counter_url``, authenticated with ``key``."""

    def __init__(self, counter_url: str, key: str, *, timeout_s: float = 30) -> None:
        self.counter_url, self.timeout_s = counter_url.rstrip("/"), timeout_s
        self._headers = {KEY_HEADER: key}

    def hear(self, text: str | None, confidence: float) -> Turn:
        """The counter's answer to what the microphone heard (None: nothing understood), in the counter's current
        resident session (the counter service starts one when none is open). Blocks: it runs in the listening loop's
        thread, which waits for the answer anyway."""
        body = {"text": (text or "")[:200], "confidence": confidence, "source": "voice"}
        try:
            response = httpx.post(
                f"{self.counter_url}/kiosk/api/turn", json=body, headers=self._headers, timeout=self.timeout_s
            )
            if response.status_code in (401, 403):
                log.error("the counter service refused this counter's credential (run: bin/jiujin kiosk add NAME)")
                return Turn(text, [COUNTER_CLOSED], confidence)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("the counter service did not answer: %s", type(exc).__name__)
            return Turn(text, [BACKEND_DOWN], confidence)
        record = response.json()
        return Turn(record["heard"], record["replies"], confidence, record["asked_to_confirm"])

    def follow_screen(
        self,
        on_turn: Callable[[dict[str, Any]], None],
        stop: threading.Event,
        connected: threading.Event | None = None,
    ) -> None:
        """Call ``on_turn`` with each turn the screen sends, until ``stop`` is set; reconnects after failures,
        resuming where it left off (``Last-Event-ID``). ``connected`` is set once the stream is open. Blocks: run it
        on a thread of its own."""
        seen: str | None = None
        timeout = httpx.Timeout(self.timeout_s, read=STREAM_READ_S)
        with httpx.Client(timeout=timeout) as http:
            while not stop.is_set():
                headers = self._headers | ({"Last-Event-ID": seen} if seen else {})
                wait = RECONNECT_S
                try:
                    with connect_sse(http, "GET", f"{self.counter_url}/kiosk/api/events", headers=headers) as events:
                        if events.response.status_code in (401, 403):
                            log.error(
                                "the counter service refused this counter's credential; retrying in %.0f s",
                                REFUSED_RETRY_S,
                            )
                            wait = REFUSED_RETRY_S
                        else:
                            events.response.raise_for_status()
                            if connected is not None:
                                connected.set()
                            for event in events.iter_sse():
                                seen = event.id or seen
                                if event.event == "turn" and (data := event.json()).get("source") == "screen":
                                    on_turn(data)
                                if stop.is_set():
                                    return
                except (httpx.HTTPError, SSEError) as exc:
                    log.info("the counter's screen stream dropped (%s); reconnecting", type(exc).__name__)
                stop.wait(wait)
