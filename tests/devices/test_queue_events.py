"""The devices' reading of the hall's event stream: a real HTTP server playing the backend's
``GET /api/v1/queue/events``, which answers wrongly once, drops the stream once and sends noise between events."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from devices.queue_events import QueueEvent, follow


def _event(event_id: int, number: str) -> str:
    body = {"id": event_id, "kind": "called", "number": number, "window": 3, "board": {"waiting": {"A": 1}}}
    return f"id: {event_id}\nevent: called\ndata: {json.dumps(body)}\n\n"


ANSWERS = [
    ("text/html", "<html>a proxy's error page</html>"),  # not an event stream: try again later
    ("text/event-stream", ": keep-alive\n\n" + _event(1, "A001") + "data: {not json\n\n" + _event(2, "A002")),
    ("text/event-stream", _event(3, "A003")),
]
"""What the stand-in answers to its first, second and third request; the connection closes after each."""


class StandIn(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str | None]]] = []
    """Each request's path and the headers that matter, in order."""

    def do_GET(self) -> None:
        headers = {name: self.headers.get(name) for name in ("Last-Event-ID", "Authorization", "Accept")}
        StandIn.seen.append({"path": self.path, **headers})
        content_type, body = ANSWERS[min(len(StandIn.seen), len(ANSWERS)) - 1]
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("JIUJIN_DEVICES_TOKEN", "devices-" + "t" * 32)
    StandIn.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_events_arrive_once_each_across_a_wrong_answer_and_a_dropped_stream(backend: str) -> None:
    stop = threading.Event()
    received: list[QueueEvent] = []
    for event in follow(backend, stop, retry_s=0.05):
        received.append(event)
        if event.id == 3:
            break
    assert [(e.id, e.number, e.calls_someone) for e in received] == [
        (1, "A001", True),
        (2, "A002", True),
        (3, "A003", True),
    ]
    assert received[0].board.waiting == {"A": 1}
    assert [s["Last-Event-ID"] for s in StandIn.seen] == [None, None, "2"]  # resumed after the last event seen
    assert {s["path"] for s in StandIn.seen} == {"/api/v1/queue/events"}
    assert all(s["Authorization"] == "Bearer devices-" + "t" * 32 for s in StandIn.seen)
    assert all(s["Accept"] == "text/event-stream" for s in StandIn.seen)


def test_following_ends_when_stopped(backend: str) -> None:
    stop = threading.Event()
    stop.set()
    assert list(follow(backend, stop, retry_s=0.05)) == []
    assert StandIn.seen == []
