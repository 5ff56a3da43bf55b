"""The window keypads: the frame protocol, and the driver on real ptys with real pyserial against a fake backend
served over real HTTP (the queue's window endpoints, recording every call)."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.keypad import KeypadBus
from devices.keypad_protocol import DLE, ETX, STX, Frame, FrameReader, crc8, display_payload, encode_frame
from harness.processes import free_port
from simulators.devices.keypad import KeypadSimulator
from tests.devices.conftest import running_bus, wait_until

# -- the protocol --------------------------------------------------------------------------------------------------

frames = st.builds(
    Frame,
    address=st.integers(0, 255),
    command=st.characters(min_codepoint=0, max_codepoint=127),
    seq=st.integers(0, 255),
    payload=st.binary(max_size=255),
)


def encoded(frame: Frame) -> bytes:
    return encode_frame(frame.address, frame.command, frame.seq, frame.payload)


def test_crc8_is_the_maxim_one() -> None:
    assert crc8(b"123456789") == 0xA1 and crc8(b"") == 0


def test_stuffed_bytes_are_escaped_and_come_back() -> None:
    data = encode_frame(3, "T", 2, bytes([STX, ETX, DLE]))
    # address 3 and seq 2 are escaped too; STX and ETX appear only at the ends
    assert data == bytes.fromhex("02 1023 54 1022 1023 1022 1023 1030 39 03")
    assert data.count(STX) == 1 and data.count(ETX) == 1
    assert FrameReader().feed(data) == [Frame(3, "T", 2, bytes([STX, ETX, DLE]))]


@given(frames)
def test_any_frame_round_trips(frame: Frame) -> None:
    data = encoded(frame)
    assert data[0] == STX and data[-1] == ETX and STX not in data[1:-1] and ETX not in data[1:-1]
    assert FrameReader().feed(data) == [frame]


def test_a_stream_split_at_every_byte_gives_every_frame() -> None:
    sent = [Frame(3, "N", 0), Frame(16, "T", 2, b"\x05"), Frame(3, "A", 0, b"A012"), Frame(2, "P", 255)]
    reader = FrameReader()
    stream = b"".join(encoded(f) for f in sent)
    received = [frame for i in range(len(stream)) for frame in reader.feed(stream[i : i + 1])]
    assert received == sent and reader.rejected == 0


@given(st.binary(max_size=400), frames, st.lists(st.integers(1, 50), max_size=20))
def test_garbage_never_raises_and_the_next_frame_gets_through(garbage: bytes, frame: Frame, cuts: list[int]) -> None:
    reader = FrameReader()
    stream = garbage + encoded(frame)
    received, at = [], 0
    for size in [*cuts, len(stream)]:  # chunks of arbitrary sizes
        received += reader.feed(stream[at : at + size])
        at += size
    assert received[-1] == frame  # its STX resynchronises whatever the garbage left half-read


def test_damaged_frames_are_rejected_and_counted() -> None:
    good = encode_frame(1, "N", 7)
    body = bytes([1, ord("N"), 7, 0])
    assert good == bytes([STX, *body, crc8(body), ETX])  # nothing here needs stuffing
    bad_checksum = bytes([STX, *body, crc8(body) ^ 0x55, ETX])
    bad_length = bytes([STX, 1, ord("N"), 7, 5, crc8(body), ETX])
    no_etx = good[:-1]
    bad_escape = bytes([STX, 1, DLE, 0x41, 7, 0, 0, ETX])
    reader = FrameReader()
    assert reader.feed(b"noise" + bad_checksum + bad_length + bad_escape + no_etx + good + b"\x03\x03") == [
        Frame(1, "N", 7)
    ]
    assert reader.rejected == 4 and reader.skipped == len(b"noise") + 4 + 2  # what followed the bad escape


def test_display_texts_are_four_ascii_bytes() -> None:
    assert [display_payload(t) for t in ("A012", "ERR", "A1012", "号")] == [b"A012", b"ERR ", b"1012", b"?   "]


def test_a_frame_that_never_ends_is_dropped_without_growing() -> None:
    reader = FrameReader()
    assert reader.feed(bytes([STX]) + b"x" * 2000) == [] and reader.rejected == 1
    assert reader.feed(encode_frame(4, "R", 1)) == [Frame(4, "R", 1)]


# -- a fake backend ------------------------------------------------------------------------------------------------


@dataclass
class FakeQueue:
    """The queue's window endpoints and board as the keypads use them, with the backend's answers (codes, statuses)
    where the keypads depend on them, recording each POST as (window, action, body, X-Actor). The real backend is
    in tests/devices/test_keypads_backend.py."""

    waiting: list[str] = field(default_factory=list)
    serving: dict[int, str] = field(default_factory=dict)
    paused: set[int] = field(default_factory=set)
    recalls: dict[int, int] = field(default_factory=dict)
    calls: list[tuple[int, str, Any, str | None]] = field(default_factory=list)
    url: str = ""
    called_by_key: dict[str, str] = field(default_factory=dict)
    stall_next_s: float = 0.0
    """The next call is carried out, but answered only after this long (its answer is lost to a timeout)."""
    max_recalls: int = 2

    def answer(self, window: int, action: str, body: Any, key: str | None = None) -> tuple[int, Any]:
        nothing = (404, {"error": {"code": "nothing_called", "message": "当前没有叫号。"}})
        if not 1 <= window <= 32:
            return 404, {"error": {"code": "unknown_window", "message": "没有这个窗口。"}}
        if action == "call-next" and key in self.called_by_key:  # the backend's Idempotency-Key rule
            return 200, {"number": self.called_by_key[key], "window": window, "status": "called"}
        if action == "call-next":
            if window in self.paused:
                return 409, {"error": {"code": "window_paused", "message": "窗口已暂停叫号，请先恢复。"}}
            self.serving.pop(window, None)
            if not self.waiting:
                return 404, {"error": {"code": "queue_empty", "message": "现在没有人在等候。"}}
            self.serving[window], self.recalls[window] = self.waiting.pop(0), 0
            if key:
                self.called_by_key[key] = self.serving[window]
            return 200, {"number": self.serving[window], "window": window, "status": "called"}
        if action in ("pause", "resume"):
            (self.paused.add if action == "pause" else self.paused.discard)(window)
            return 200, {"window": window, "paused": window in self.paused}
        if window not in self.serving:
            return nothing
        if action == "recall" and self.recalls.get(window, 0) >= self.max_recalls:  # a no-show
            return 200, {"number": self.serving.pop(window), "window": window, "status": "skipped"}
        if action == "recall":
            self.recalls[window] = self.recalls.get(window, 0) + 1
            return 200, {"number": self.serving[window], "window": window, "status": "called"}
        if action == "skip":
            return 200, {"number": self.serving.pop(window), "window": window, "status": "skipped"}
        if action == "transfer":
            number = self.serving.pop(window)
            self.serving[body["to"]] = number  # simplified: the backend has the target window call it next
            return 200, {"number": number, "window": None, "status": "waiting"}
        return 404, {"error": {"code": "not_found", "message": "?"}}

    def board(self) -> dict[str, Any]:
        """``GET /queue/board``, the parts the keypads read."""
        calling = [{"window": w, "number": n} for w, n in sorted(self.serving.items())]
        return {"calling": calling, "waiting": {"A": len(self.waiting), "V": 0}, "paused": sorted(self.paused)}

    def actions(self) -> list[tuple[int, str]]:
        return [(window, action) for window, action, _, _ in self.calls]


@pytest.fixture
def backend() -> Iterator[FakeQueue]:
    queue = FakeQueue(waiting=["A012", "A013", "A014"])
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                found = self.path == "/api/v1/queue/board"
                out = queue.board() if found else {"error": {"code": "no_route", "message": self.path}}
            self._send(200 if found else 404, out)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            found = re.fullmatch(r"/api/v1/queue/windows/(\d+)/([a-z-]+)", self.path)
            with lock:
                if found is None:
                    status, out = 404, {"error": {"code": "no_route", "message": self.path}}
                else:
                    window, action = int(found[1]), found[2]
                    queue.calls.append((window, action, body, self.headers.get("X-Actor")))
                    status, out = queue.answer(window, action, body, self.headers.get("Idempotency-Key"))
                    stall, queue.stall_next_s = queue.stall_next_s, 0.0
            time.sleep(stall)
            self._send(status, out)

        def _send(self, status: int, out: Any) -> None:
            data = json.dumps(out).encode()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a stalled answer nobody waits for
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    queue.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield queue
    finally:
        server.shutdown()
        server.server_close()


# -- the driver ----------------------------------------------------------------------------------------------------


@pytest.fixture
def bus(keypads: KeypadSimulator, backend: FakeQueue) -> Iterator[KeypadBus]:
    with running_bus(keypads, backend.url) as started:
        yield started


def test_next_calls_the_next_number_to_the_window(keypads: KeypadSimulator, backend: FakeQueue, bus: KeypadBus) -> None:
    keypads.press(3, "下一位")
    keypads.wait_display(3, "A012")
    assert backend.calls == [(3, "call-next", None, "keypad:3")]
    (ack,) = keypads.wait_acks(3, 1)
    assert ack.seq == keypads.seq(3) and bus.handled == 1


def test_a_resent_press_is_answered_again_without_calling_twice(
    keypads: KeypadSimulator, backend: FakeQueue, bus: KeypadBus
) -> None:
    keypads.press(3, "N")
    keypads.press(3, "N", resend=True)
    first, again = keypads.wait_acks(3, 2)
    assert first == again and keypads.display(3) == "A012"
    assert backend.actions() == [(3, "call-next")] and bus.handled == 1 and bus.resends == 1
    keypads.press(3, "N")  # a new press (next seq) does call the next number
    keypads.wait_display(3, "A013")
    assert backend.actions() == [(3, "call-next")] * 2


def test_nobody_waiting_shows_dashes(keypads: KeypadSimulator, backend: FakeQueue, bus: KeypadBus) -> None:
    backend.waiting.clear()
    keypads.press(7, "N")
    keypads.wait_display(7, "----")
    keypads.press(7, "R")  # nobody at the window either
    keypads.wait_acks(7, 2)
    assert keypads.display(7) == "----" and backend.actions() == [(7, "call-next"), (7, "recall")]


def test_recall_and_skip(keypads: KeypadSimulator, backend: FakeQueue, bus: KeypadBus) -> None:
    keypads.press(2, "N")
    keypads.wait_display(2, "A012")
    keypads.press(2, "重呼")
    keypads.wait_acks(2, 2)
    assert keypads.display(2) == "A012"
    keypads.press(2, "过号")
    keypads.wait_display(2, "----")
    assert backend.actions() == [(2, "call-next"), (2, "recall"), (2, "skip")]


def test_pause_toggles_and_shows_the_number_again(keypads: KeypadSimulator, backend: FakeQueue, bus: KeypadBus) -> None:
    keypads.press(4, "N")
    keypads.wait_display(4, "A012")
    keypads.press(4, "暂停")
    keypads.wait_display(4, "PAUS")
    assert backend.paused == {4}
    keypads.press(4, "P")
    keypads.wait_display(4, "A012")
    assert backend.paused == set()
    assert backend.actions() == [(4, "call-next"), (4, "pause"), (4, "resume")]


def test_transfer_sends_the_target(keypads: KeypadSimulator, backend: FakeQueue, bus: KeypadBus) -> None:
    keypads.press(3, "N")
    keypads.wait_display(3, "A012")
    keypads.press(3, "转窗口", target=5)
    keypads.wait_display(3, "----")
    assert backend.calls[-1] == (3, "transfer", {"to": 5}, "keypad:3") and backend.serving == {5: "A012"}


def test_a_bad_transfer_target_fails_without_calling(
    keypads: KeypadSimulator, backend: FakeQueue, bus: KeypadBus
) -> None:
    keypads.press(3, "T", target=33)
    keypads.wait_display(3, "ERR ")
    keypads.send_raw(encode_frame(3, "T", 200))  # no payload at all
    keypads.wait_acks(3, 2)
    assert keypads.display(3) == "ERR " and backend.calls == []


def test_a_corrupt_frame_is_dropped_and_the_next_one_works(
    keypads: KeypadSimulator, backend: FakeQueue, bus: KeypadBus
) -> None:
    body = bytes([1, ord("N"), 9, 0])
    keypads.send_raw(b"\xff\x00line noise" + bytes([STX, *body, crc8(body) ^ 0x01, ETX]))
    keypads.press(1, "N")
    keypads.wait_display(1, "A012")
    assert bus.rejected == 1 and bus.handled == 1 and len(keypads.acks) == 1
    assert backend.actions() == [(1, "call-next")]


def test_our_own_echo_and_address_zero_are_ignored(
    keypads: KeypadSimulator, backend: FakeQueue, bus: KeypadBus
) -> None:
    keypads.send_raw(encode_frame(3, "A", 0, b"A012") + encode_frame(0, "N", 0))
    keypads.press(6, "N")
    keypads.wait_display(6, "A012")
    assert bus.ignored == 2 and backend.actions() == [(6, "call-next")]


def test_a_backend_that_is_down_shows_err_and_is_not_retried(keypads: KeypadSimulator) -> None:
    with running_bus(keypads, f"http://127.0.0.1:{free_port()}") as bus:
        keypads.press(3, "N")
        keypads.wait_display(3, "ERR ")
        keypads.press(3, "N", resend=True)
        keypads.wait_acks(3, 2)
        assert bus.handled == 1 and bus.resends == 1 and keypads.display(3) == "ERR "


def test_the_driver_reconnects_after_the_bus_is_unplugged(
    keypads: KeypadSimulator, backend: FakeQueue, bus: KeypadBus, caplog: pytest.LogCaptureFixture
) -> None:
    keypads.press(3, "N")
    keypads.wait_display(3, "A012")
    keypads.unplug()
    wait_until(lambda: not bus.connected)
    wait_until(lambda: "cannot be opened" in caplog.text)  # a failed attempt to open the vanished port
    assert not bus.connected and bus.reconnects == 0
    keypads.replug()
    wait_until(lambda: bus.connected and bus.reconnects == 1)
    keypads.press(3, "N")
    keypads.wait_display(3, "A013")
    assert backend.actions() == [(3, "call-next")] * 2 and bus.reconnects == 1


def test_a_call_whose_answer_was_lost_is_retried_and_calls_no_one_else(
    keypads: KeypadSimulator, backend: FakeQueue
) -> None:
    backend.stall_next_s = 2.5  # longer than the driver waits: the number is called, the answer comes too late
    with running_bus(keypads, backend.url):
        keypads.press(3, "N")
        keypads.wait_display(3, "A012", timeout=8)
    assert backend.actions() == [(3, "call-next"), (3, "call-next")]  # the same press, tried twice
    assert backend.waiting == ["A013", "A014"]  # and only one number called
