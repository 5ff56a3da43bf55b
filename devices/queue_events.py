"""The hall's queue events as the devices see them: one stream from the backend (server-sent events at
``GET /api/v1/queue/events``) feeds the display board page, the LED board and the announcements alike.

Each event carries what happened (a number taken, called, recalled, skipped, transferred; a window paused or
resumed) and the board as it is after it, so a consumer that missed events only needs the latest one. The stream
resumes after a dropped connection from the last event seen (``Last-Event-ID``), so nothing is announced twice
and nothing is missed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import EventSource, connect_sse

from devices.service_token import authorize

log = logging.getLogger(__name__)

CALLS = frozenset({"called", "recalled"})
"""Events after which a resident is asked to a window (the announcer speaks, the board flashes)."""


@dataclass(frozen=True)
class Board:
    """What the hall's board shows."""

    calling: list[dict[str, Any]] = field(default_factory=list)
    """Each window's current number: [{"window": 3, "number": "A012"}], by window."""
    next: dict[str, list[str]] = field(default_factory=dict)
    """The next numbers of each category: {"A": ["A013", …], "V": […]}."""
    waiting: dict[str, int] = field(default_factory=dict)
    """How many wait in each category."""
    paused: list[int] = field(default_factory=list)
    """Windows not calling now."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Board:
        return cls(
            calling=list(data.get("calling", [])),
            next=dict(data.get("next", {})),
            waiting=dict(data.get("waiting", {})),
            paused=list(data.get("paused", [])),
        )


@dataclass(frozen=True)
class QueueEvent:
    """One change in the hall."""

    id: int
    kind: str
    """taken, called, recalled, skipped, transferred, paused or resumed."""
    number: str | None
    window: int | None
    board: Board

    @property
    def calls_someone(self) -> bool:
        return self.kind in CALLS and self.number is not None and self.window is not None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QueueEvent:
        return cls(
            id=int(data["id"]),
            kind=str(data["kind"]),
            number=data.get("number"),
            window=data.get("window"),
            board=Board.from_json(data.get("board") or {}),
        )


def read_events(source: EventSource) -> Iterator[QueueEvent]:
    """The queue events of a server-sent event stream (parsed by httpx-sse); comments and keep-alives without data
    are passed over, and an event that cannot be read is skipped with a warning."""
    for sse in source.iter_sse():
        if not sse.data:
            continue
        try:
            yield QueueEvent.from_json(sse.json())
        except (ValueError, KeyError, TypeError):
            log.warning("skipping a queue event that could not be read")


def follow(backend_url: str, stop: threading.Event, *, after: int = 0, retry_s: float = 1.0) -> Iterator[QueueEvent]:
    """Queue events from ``backend_url`` until ``stop`` is set, reconnecting after failures without gaps."""
    last = after
    with httpx.Client(timeout=httpx.Timeout(5, read=30), auth=authorize) as client:
        while not stop.is_set():
            try:
                headers = {"Last-Event-ID": str(last)} if last else {}
                with connect_sse(client, "GET", f"{backend_url}/api/v1/queue/events", headers=headers) as source:
                    source.response.raise_for_status()
                    for event in read_events(source):
                        last = event.id
                        yield event
                        if stop.is_set():
                            return
            except httpx.HTTPError as exc:  # SSEError (not an event stream) is one too
                log.info("queue events unavailable (%s); reconnecting", type(exc).__name__)
            stop.wait(retry_s)


def run_consumer(
    name: str, backend_url: str, handle: Callable[[QueueEvent], None], stop: threading.Event, *, after: int = 0
) -> None:
    """Feed every event to ``handle`` until ``stop``; a handler's failure is logged, not fatal."""
    for event in follow(backend_url, stop, after=after):
        started = time.monotonic()
        try:
            handle(event)
        except Exception:
            log.exception("%s could not handle queue event %d", name, event.id)
        log.debug("%s handled event %d in %.3f s", name, event.id, time.monotonic() - started)
