"""Residents at a voice counter: one server-issued session per resident, and the counter's stream of events.

Each counter has at most one open resident session, shared by its screen and its microphone. Invariants:

- a session id is made here (128 random bits), never taken from a client; a turn naming any other id than the
  counter's open session is refused, so a screen still showing the last resident cannot write into the next one's;
- the Rasa sender id is derived from the session id (``kiosk-<counter>-<digest>``), so every resident starts a
  conversation Rasa has never seen: no slot (name, ID number) of the one before is there to be reused;
- a session ends after 办完了 (`counter.dialogue.Turn.finished`), ``served_s`` after a filing or a queue number (a
  hard limit: more talk does not extend it, so whoever steps up next cannot continue it), or ``idle_s`` without a
  turn; then its turns are dropped from memory and the stream says ``ended``, so the screen returns to the start;
- everything a stream or a turn answer carries has ID numbers and phone numbers masked.

The state lives in the counter service's one process: a counter is one device, and one process holds its sessions
(so its screen and its microphone always meet the same state).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from counter.dialogue import CounterSession, Turn
from vocabulary.masking import mask_text

log = logging.getLogger(__name__)

KEPT_EVENTS = 50
"""Events a counter keeps for a screen that reconnects (of the open session only)."""
SESSION_ID = r"^[A-Za-z0-9_-]{22}$"
"""The shape of a server-issued session id (16 random bytes, URL-safe base64)."""


def new_session_id() -> str:
    """A fresh, unguessable resident session id."""
    return secrets.token_urlsafe(16)


def rasa_sender(counter: str, session_id: str) -> str:
    """The Rasa sender id of a resident session: new for every session, and not the session id itself (Rasa's
    tracker store and logs never learn an id the counter accepts)."""
    return f"kiosk-{counter}-{hashlib.sha256(session_id.encode()).hexdigest()[:24]}"


@dataclass
class Resident:
    """One resident's open session at a counter."""

    id: str
    counter: CounterSession
    started_at: dt.datetime
    last_turn: float
    """`time.monotonic()` of the latest turn (or of the start)."""
    served: float | None = None
    """`time.monotonic()` of the latest turn that gave a case number or a queue number."""
    turns: int = 0


@dataclass
class Ended:
    """A session that ended, to be recorded by the backend (`counter.backend_api.BackendApi.record_ended`)."""

    counter: str
    started_at: dt.datetime
    reason: str
    turns: int


@dataclass
class Station:
    """A counter's open resident session, its stream of events, and the lock that runs its turns one at a time."""

    name: str
    clock: Callable[[], float] = time.monotonic
    current: Resident | None = None
    seq: int = 0
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=KEPT_EVENTS))
    reset: dict[str, Any] | None = None
    """The latest ``ended`` event: a screen resuming from before it must first return to the start."""
    finished: list[Ended] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def open(self) -> Resident:
        """The open session, or a new one."""
        if self.current is None:
            session_id = new_session_id()
            now = self.clock()
            sender = rasa_sender(self.name, session_id)
            self.current = Resident(session_id, CounterSession(sender=sender), dt.datetime.now(dt.UTC), last_turn=now)
            log.info("counter %s: a resident session started", self.name)
        return self.current

    def due(self, idle_s: float, served_s: float) -> str | None:
        """Why the open session must end now (``served`` or ``idle``), or None."""
        resident, now = self.current, self.clock()
        if resident is None:
            return None
        if resident.served is not None and now - resident.served >= served_s:
            return "served"
        if now - resident.last_turn >= idle_s:
            return "idle"
        return None

    def seconds_left(self, idle_s: float, served_s: float) -> float | None:
        """Seconds until the open session is due to end (None: no session)."""
        resident = self.current
        if resident is None:
            return None
        deadline = resident.last_turn + idle_s
        if resident.served is not None:
            deadline = min(deadline, resident.served + served_s)
        return max(deadline - self.clock(), 0.0)

    def expire(self, idle_s: float, served_s: float) -> bool:
        """End the open session when it is due; True when it ended."""
        reason = self.due(idle_s, served_s)
        if reason is not None:
            self.end(reason)
        return reason is not None

    def end(self, reason: str, farewell: list[str] | None = None) -> None:
        """End the open session: forget its turns and tell the streams to return to the start (after showing
        ``farewell`` a moment)."""
        resident = self.current
        if resident is None:
            return
        self.current = None
        self.events.clear()
        self.seq += 1
        self.reset = {"seq": self.seq, "kind": "ended", "session": resident.id, "reason": reason}
        if farewell:
            self.reset["replies"] = list(farewell)  # the goodbye after 办完了: it holds nothing of the resident
        self.events.append(self.reset)
        self.finished.append(Ended(self.name, resident.started_at, reason, resident.turns))
        log.info("counter %s: a resident session ended (%s, %d turns)", self.name, reason, resident.turns)

    def record_turn(self, resident: Resident, turn: Turn, source: str) -> dict[str, Any]:
        """Keep ``turn`` of ``resident`` as the counter's next event (masked) and return it."""
        now = self.clock()
        resident.last_turn, resident.turns = now, resident.turns + 1
        if turn.served:
            resident.served = now
        self.seq += 1
        record = {
            "seq": self.seq,
            "kind": "turn",
            "session": resident.id,
            "source": source,
            "heard": mask_text(turn.heard) if turn.heard else turn.heard,
            "replies": [mask_text(reply) for reply in turn.replies],
            "asked_to_confirm": turn.asked_to_confirm,
            "ended": turn.finished,
        }
        self.events.append(record)
        return record

    def after(self, seq: int) -> list[dict[str, Any]]:
        """Events after ``seq``; a client that missed the end of a session gets that ``ended`` first."""
        later = [event for event in self.events if event["seq"] > seq]
        if self.reset is not None and seq < self.reset["seq"] and all(event is not self.reset for event in later):
            later.insert(0, self.reset)
        return later

    def snapshot(self) -> dict[str, Any] | None:
        """What a newly connected screen shows: the open session's latest turn (None: the start screen)."""
        if self.current is None or not self.events or self.events[-1]["kind"] != "turn":
            return None
        return self.events[-1]

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()


class Stations:
    """Every counter's `Station` in this process, by counter name."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._stations: dict[str, Station] = {}
        self._clock = clock

    def get(self, name: str) -> Station:
        if name not in self._stations:
            self._stations[name] = Station(name, clock=self._clock)
        return self._stations[name]
