"""The hall's LED board, driven over a serial port: the latest call, the other windows' numbers, who waits.

What it shows (4 lines of 32 columns, `devices.led_protocol`)::

    请 A012 到 3号窗口          ← the latest call; flashes when it is new
    A010→1 V003→2 A011→4       ← the other windows' current numbers
    A009→5                     ← (continued)
    等候 A:5 V:1               ← how many wait, per category

Only lines that changed are sent, each frame waits for ACK and is resent on NAK or silence. A controller that
is unplugged (or never answers) is closed and reopened on the next event or by `keep_connected`, and then
cleared and redrawn whole: after a power cut its content is unknown.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import serial

from devices import led_protocol as proto
from devices.queue_events import Board, QueueEvent
from devices.serial_errors import PORT_ERRORS

log = logging.getLogger(__name__)

IDLE_LINE = "请取号 等候叫号"
"""Line 1 before anyone has been called."""


class LedBoardNotFoundError(OSError):
    """The board's serial port cannot be opened."""

    def __init__(self, port: str, reason: str) -> None:
        super().__init__(f"LED board port {port} cannot be opened: {reason}")
        self.port = port


class _Silent(Exception):
    """The controller answered nothing to any attempt: taken as gone."""


def call_line(number: str, window: int) -> str:
    """The headline for a call: "请 A012 到 3号窗口"."""
    return f"请 {number} 到 {window}号窗口"


def board_lines(board: Board, call: tuple[str, int] | None) -> list[str]:
    """The four lines for ``board``, with ``call`` (number, window) as the headline, each cut to the board's width."""
    first = call_line(*call) if call else IDLE_LINE
    entries = [
        f"{c['number']}→{c['window']}"
        for c in sorted(board.calling, key=lambda c: c.get("window") or 0)
        if c.get("number") and (c["number"], c.get("window")) != call
    ]
    others = ["", ""]
    for entry in entries:  # fill line 2, then line 3; what does not fit is left out
        for i, line in enumerate(others):
            candidate = f"{line} {entry}" if line else entry
            if proto.width(candidate) <= proto.LINE_BYTES:
                others[i] = candidate
                break
        else:
            log.debug("LED board: no room for %s", entry)
    waiting = " ".join(f"{category}:{count}" for category, count in sorted(board.waiting.items()))
    return [proto.fit(line) for line in (first, *others, f"等候 {waiting or 0}")]


class LedBoard:
    """One LED board controller on ``port``; `handle` is a `run_consumer` handler. Thread-safe."""

    def __init__(
        self,
        port: str,
        *,
        timeout_s: float = 0.5,
        retries: int = 3,
        baudrate: int = 9600,
        address: int = proto.BOARD_ADDRESS,
        flash_s: int = 5,
        brightness: int | None = None,
        reconnect_s: float = 5.0,
    ) -> None:
        """``timeout_s``: wait for each reply; ``retries``: resends after a NAK or no reply; ``flash_s``: seconds a
        new call flashes; ``brightness``: 0–15 set on each (re)connect, None leaves it; ``reconnect_s``: the
        period of `keep_connected`."""
        self.port, self.timeout_s, self.retries = port, timeout_s, max(0, retries)
        self.baudrate, self.address, self.flash_s = baudrate, address, flash_s
        self.brightness, self.reconnect_s = brightness, reconnect_s
        self._lock = threading.RLock()
        self._serial: Any = None
        self._shown: list[str | None] = [None] * proto.LINES
        """What the board shows as far as we know; None: unknown (not connected yet, or a send failed)."""
        self._wanted: list[str] | None = None
        self._call: tuple[str, int] | None = None
        self._flashed: int | None = None
        self._outage_logged = False

    # -- the public side -------------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """Whether the port is open (as far as we know: a pulled cable shows at the next send or `refresh`)."""
        return self._serial is not None

    @property
    def lines(self) -> list[str] | None:
        """The lines the board should show now (None before the first event)."""
        return None if self._wanted is None else list(self._wanted)

    def handle(self, event: QueueEvent) -> None:
        """Show the board after ``event``; never raises for an absent controller (it is retried)."""
        self.show(event.board, event)

    def show(self, board: Board, latest: QueueEvent | None) -> bool:
        """Bring the board up to date with ``board``; True when it shows everything, False if it is out of reach."""
        with self._lock:
            calls = latest is not None and latest.calls_someone
            if calls:
                assert latest is not None and latest.number is not None and latest.window is not None
                self._call = (latest.number, latest.window)
            self._wanted = board_lines(board, self._call)
            return self._sync(flash_event=latest.id if calls and latest is not None else None)

    def refresh(self) -> bool:
        """Check the port, reconnect and resend what is missing, if anything; True when the board is up to date.

        Cheap when all is well (a zero-timeout read), so it can run every few seconds.
        """
        with self._lock:
            return self._wanted is None or self._sync(flash_event=None)

    def keep_connected(self, stop: threading.Event) -> None:
        """Until ``stop``: every ``reconnect_s``, reopen a lost controller and redraw it (run in its own thread)."""
        while not stop.wait(self.reconnect_s):
            try:
                self.refresh()
            except Exception:
                log.exception("LED board %s: refresh failed", self.port)

    def close(self) -> None:
        """Close the port; the next `show` or `refresh` reopens it and redraws."""
        with self._lock:
            self._close()

    def __enter__(self) -> LedBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the serial side -------------------------------------------------------------------------------------------
    def _sync(self, *, flash_event: int | None) -> bool:
        assert self._wanted is not None
        for attempt in (1, 2):
            fresh = not self.connected
            if fresh and not self._open():
                return False
            try:
                self._draw(self._wanted, flash_event)
                return self._shown == self._wanted
            except (*PORT_ERRORS, _Silent) as exc:
                log.warning("LED board %s lost (%s)", self.port, type(exc).__name__)
                self._close()
                if fresh or attempt == 2:  # a port just opened failed too: wait for the next event or refresh
                    return False
                # else the port was stale (unplugged and plugged back since): reopen once, now
        return False

    def _draw(self, wanted: list[str], flash_event: int | None) -> None:
        self._check_port()
        if all(shown is None for shown in self._shown):  # new connection: content unknown, start clean
            if self.brightness is not None:
                self._send(proto.brightness(self.brightness, address=self.address))
            if self._send(proto.clear(address=self.address)):
                self._shown = [""] * proto.LINES
        for i, text in enumerate(wanted):
            if self._shown[i] != text:
                self._shown[i] = text if self._send(proto.set_line(i + 1, text, address=self.address)) else None
        new_call = flash_event is not None and flash_event != self._flashed
        if new_call and self._send(proto.flash(1, self.flash_s, address=self.address)):
            self._flashed = flash_event

    def _send(self, frame: bytes) -> bool:
        """Send ``frame`` until ACK'd (1 + ``retries`` tries); False after NAKs, `_Silent` if never answered."""
        silent = 0
        for attempt in range(1, self.retries + 2):
            self._serial.reset_input_buffer()  # a late reply to an earlier try must not count for this one
            self._serial.write(frame)
            self._serial.flush()
            reply = self._reply()
            if reply == proto.ACK:
                return True
            silent += reply is None
            log.info(
                "LED board %s: %s to %r (try %d)", self.port, "NAK" if reply else "no reply", chr(frame[2]), attempt
            )
        if silent == self.retries + 1:
            raise _Silent(f"no reply from {self.port}")
        log.warning("LED board %s: gave up on a %r frame after %d tries", self.port, chr(frame[2]), attempt)
        return False

    def _check_port(self) -> None:
        """Raise a port error if the cable was pulled, even when there is nothing to send.

        A gone USB adapter or a pty without its other end reads as an error at once; stray bytes are dropped.
        (A controller that lost power behind a plugged adapter cannot be told apart until it fails to answer.)
        """
        self._serial.timeout = 0
        self._serial.read(max(1, self._serial.in_waiting))

    def _reply(self) -> int | None:
        deadline = time.monotonic() + self.timeout_s
        while (left := deadline - time.monotonic()) > 0:
            self._serial.timeout = left
            byte = self._serial.read(1)
            if not byte:
                return None
            if byte[0] in (proto.ACK, proto.NAK):
                return byte[0]
        return None

    def _open(self) -> bool:
        try:
            self._serial = self._connect()
        except LedBoardNotFoundError as exc:
            if not self._outage_logged:
                log.warning("%s; retrying on the next event and every %.0f s", exc, self.reconnect_s)
                self._outage_logged = True
            return False
        self._outage_logged = False
        self._shown = [None] * proto.LINES
        log.info("LED board connected on %s", self.port)
        return True

    def _connect(self) -> Any:
        """Open the port; raises `LedBoardNotFoundError` naming it."""
        try:
            return serial.Serial(self.port, baudrate=self.baudrate, timeout=self.timeout_s, write_timeout=2)
        except PORT_ERRORS as exc:
            raise LedBoardNotFoundError(self.port, str(exc) or type(exc).__name__) from exc

    def _close(self) -> None:
        if self._serial is not None:
            with contextlib.suppress(*PORT_ERRORS):
                self._serial.close()
            self._serial = None
        self._shown = [None] * proto.LINES
