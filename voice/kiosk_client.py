"""The microphone side of a counter: it sends what was heard to the backend's kiosk endpoint, the same one the
counter's screen uses, and hears back about the turns the screen sent (see `backend.pages.kiosk`).

Both sides authenticate as the counter (its credential in the ``X-Counter-Key`` header) and share the counter's
current resident session, which the backend opens and ends: one resident's conversation is one session, whichever
way they use. The screen shows what was said into the microphone, and the loudspeaker says the answers to what was
tapped.

The credential comes from ``JIUJIN_COUNTER_KEY`` or from ``<secrets>/counters/<name>.key`` (mode 0600, written by
``bin/jiujin kiosk add NAME``), never from a command line.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import httpx

from security.tokens import secrets_dir
from voice.counter import BACKEND_DOWN, COUNTER_CLOSED, Turn

log = logging.getLogger(__name__)

RECONNECT_S = 2.0
REFUSED_RETRY_S = 30.0
"""After the backend refused the credential: try again this much later (the counter may be added again)."""
KEY_HEADER = "X-Counter-Key"
KEY_VARIABLE = "JIUJIN_COUNTER_KEY"


def counter_key_path(name: str) -> Path:
    """Where counter ``name``'s credential is kept on the counter's machine."""
    return secrets_dir() / "counters" / f"{name}.key"


def write_counter_key(name: str, key: str) -> Path:
    """Keep ``key`` as counter ``name``'s credential (replacing the old one): written privately (0600) beside it
    and renamed into place, so the microphone side never reads half a key."""
    path = counter_key_path(name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(key + "\n")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def read_counter_key(name: str) -> str | None:
    """Counter ``name``'s credential: ``JIUJIN_COUNTER_KEY``, else its key file; None when neither has one."""
    from_env = os.environ.get(KEY_VARIABLE, "").strip()
    if from_env:
        return from_env
    try:
        return counter_key_path(name).read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None


class KioskClient:
    """The microphone side of one counter at the backend ``backend_url``, authenticated with the counter's ``key``."""

    def __init__(self, backend_url: str, key: str, *, timeout_s: float = 30) -> None:
        self.backend_url, self.timeout_s = backend_url.rstrip("/"), timeout_s
        self._headers = {KEY_HEADER: key}

    def hear(self, text: str | None, confidence: float) -> Turn:
        """The counter's answer to what the microphone heard (None: nothing understood), in the counter's current
        resident session (the backend starts one when none is open)."""
        body = {"text": (text or "")[:200], "confidence": confidence, "source": "voice"}
        try:
            response = httpx.post(
                f"{self.backend_url}/kiosk/api/turn", json=body, headers=self._headers, timeout=self.timeout_s
            )
            if response.status_code in (401, 403):
                log.error("the backend refused this counter's credential (run: bin/jiujin kiosk add NAME)")
                return Turn(text, [COUNTER_CLOSED], confidence)
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
            headers = self._headers | ({"Last-Event-ID": seen} if seen else {})
            wait = RECONNECT_S
            try:
                with httpx.stream(
                    "GET",
                    f"{self.backend_url}/kiosk/api/events",
                    headers=headers,
                    timeout=httpx.Timeout(self.timeout_s, read=None),
                ) as response:
                    if response.status_code in (401, 403):
                        log.error("the backend refused this counter's credential; retrying in %.0f s", REFUSED_RETRY_S)
                        wait = REFUSED_RETRY_S
                    else:
                        response.raise_for_status()
                        for kind, event_id, data in _events(response.iter_lines()):
                            seen = event_id or seen
                            if kind == "turn" and data.get("source") == "screen":
                                on_turn(data)
                            if stop.is_set():
                                return
            except httpx.HTTPError as exc:
                log.info("the counter's screen stream dropped (%s); reconnecting", type(exc).__name__)
            stop.wait(wait)


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
