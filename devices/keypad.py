"""The driver of the caller keypads: reads key presses off the RS-485 bus, calls the backend, answers each keypad.

All keypads share one serial port (`devices.keypad_protocol` has the frames). For every press the driver calls the
queue endpoint of the keypad's window as ``keypad:<window>`` and answers with what the keypad should show. What can
go wrong, and what happens then:

- the keypad misses the answer and sends the press again (same seq): it gets the first answer again and the backend
  is not called twice, so one press never calls two numbers;
- a frame arrives damaged (two keypads talked at once, noise): it is dropped and counted; the keypad resends it;
- the backend is down or fails: the keypad shows ``ERR `` and the clerk presses again; the driver does not retry on
  its own, because a call that timed out may have gone through (下一位 alone is tried twice, with one
  Idempotency-Key); 下一位 refused because the window is paused shows ``PAUS``;
- the window is paused or resumed elsewhere (the staff console), or the driver restarts: P reads the window's state
  at the backend before each press and toggles that, so the driver keeps no state of its own that could drift;
- the USB-RS485 adapter is unplugged: the port is closed and opened again every `retry_s` until it is back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import serial

from devices.keypad_protocol import (
    ACK,
    KEEPALIVE,
    KEYPAD_COMMANDS,
    MAX_ADDRESS,
    Frame,
    FrameReader,
    display_payload,
    encode_frame,
)
from devices.serial_errors import PORT_ERRORS
from devices.service_token import authorize

log = logging.getLogger(__name__)

NOBODY, PAUSED, FAILED = "----", "PAUS", "ERR "
"""What a keypad shows when nobody waits or stands at the window, when the window is paused, when a press failed."""


class PressFailed(Exception):
    """A press the backend could not carry out; the keypad shows ``ERR ``."""


class WindowPaused(Exception):
    """下一位 refused because the window is paused (the backend's ``window_paused``); the keypad shows ``PAUS``."""


@dataclass
class _Keypad:
    """What the driver remembers about one window's keypad."""

    last: Frame | None = None
    """The last press handled, to recognise its resends."""
    last_at: float = 0.0
    """When it was handled (time.monotonic())."""
    shown: str = NOBODY
    """The answer sent for it, sent again for a resend."""


class KeypadBus:
    """All keypads on the serial `port`; `run()` serves them until stopped, in a thread of its own."""

    def __init__(
        self,
        port: str,
        backend_url: str,
        *,
        timeout_s: float = 0.5,
        retry_s: float = 1.0,
        backend_timeout_s: float = 5.0,
        resend_window_s: float = 60.0,
        baudrate: int = 9600,
    ) -> None:
        """`timeout_s`: how long one read waits (so `stop` is noticed that quickly); `retry_s`: seconds between
        attempts to open a lost port; `backend_timeout_s`: per backend call, after which the keypad shows ``ERR ``;
        `resend_window_s`: a frame equal to the keypad's last one counts as its resend only this many seconds after
        it (a keypad that restarted counts its seq from the start again)."""
        self.port, self.baudrate = port, baudrate
        self.timeout_s, self.retry_s = timeout_s, retry_s
        self.resend_window_s = resend_window_s
        self.backend_url = backend_url.rstrip("/")
        self.backend_timeout_s = backend_timeout_s
        self.handled = 0
        """Presses answered (the backend was called, or the press was refused with ``ERR ``)."""
        self.resends = 0
        """Presses received again and answered from memory."""
        self.ignored = 0
        """Intact frames that were not a keypad's press (our own echo, address 0 or above 32)."""
        self.reconnects = 0
        """Times the port was opened again after it was lost."""
        self._reader = FrameReader()
        self._keypads: dict[int, _Keypad] = {}
        self._serial: serial.Serial | None = None
        self._client: httpx.Client | None = None
        self._was_connected = False
        self._open_failures = 0

    @property
    def rejected(self) -> int:
        """Damaged frames dropped: bad checksum or length, bad escape, no ETX."""
        return self._reader.rejected

    @property
    def connected(self) -> bool:
        """Whether the port is open now."""
        return self._serial is not None

    # -- the loop ------------------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Serve the keypads until `stop` is set; a lost port is opened again every `retry_s`."""
        log.info("keypads on %s, backend %s", self.port, self.backend_url)
        try:
            while not stop.is_set():
                if self._serial is None and not self._open():
                    stop.wait(self.retry_s)
                elif not self._serve_once():
                    stop.wait(self.retry_s)  # the port just failed: do not spin on a port that opens but breaks
        finally:
            self.close()

    def close(self) -> None:
        """Close the port and the backend client (run() does it when it ends)."""
        self._close_port()
        if self._client is not None:
            self._client.close()
            self._client = None

    def _open(self) -> bool:
        try:
            self._serial = serial.Serial(
                self.port,
                baudrate=self.baudrate,
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE,
                timeout=self.timeout_s,
                write_timeout=max(self.timeout_s, 1.0),
            )
        except PORT_ERRORS as exc:
            self._open_failures += 1
            if self._open_failures == 1:  # once per outage, not every retry_s
                log.warning("keypad bus %s cannot be opened, retrying every %ss: %s", self.port, self.retry_s, exc)
            return False
        self._reader.reset()
        if self._was_connected:
            self.reconnects += 1
        self._was_connected, self._open_failures = True, 0
        log.info("keypad bus %s open", self.port)
        return True

    def _close_port(self) -> None:
        if self._serial is not None:
            with contextlib.suppress(*PORT_ERRORS):
                self._serial.close()
            self._serial = None

    def _serve_once(self) -> bool:
        """Read what arrived (up to `timeout_s`) and answer the presses in it; False when the port failed."""
        assert self._serial is not None
        try:
            data = self._serial.read(max(1, self._serial.in_waiting))
            if not data:
                self._check_port()
                return True
            rejected = self._reader.rejected
            frames = self._reader.feed(data)
            if self._reader.rejected > rejected:
                log.warning("keypad bus: %d damaged frame(s) dropped", self._reader.rejected - rejected)
            for frame in frames:
                reply = self.handle(frame)
                if reply is not None:
                    self._serial.write(reply)
        except PORT_ERRORS as exc:
            log.warning("keypad bus %s lost: %s", self.port, exc)
            self._close_port()
            return False
        return True

    def _check_port(self) -> None:
        """Raise when the port's path is gone or now names another device (unplugged and plugged back quickly)."""
        assert self._serial is not None
        opened, current = os.fstat(self._serial.fileno()), os.stat(self.port)
        if (opened.st_rdev, opened.st_ino) != (current.st_rdev, current.st_ino):
            raise serial.SerialException(f"{self.port} now names another device")

    # -- presses -------------------------------------------------------------------------------------------------
    def handle(self, frame: Frame) -> bytes | None:
        """The answer to one frame from the bus (None: not a keypad's press, nothing to answer)."""
        window = frame.address
        if frame.command in (ACK, KEEPALIVE) or not 1 <= window <= MAX_ADDRESS:
            self.ignored += 1
            log.debug("keypad bus: ignoring %r", frame)
            return None
        keypad = self._keypads.setdefault(window, _Keypad())
        now = time.monotonic()
        if keypad.last == frame and now - keypad.last_at < self.resend_window_s:
            self.resends += 1
            log.info("keypad %d: press seq %d again, answering %r again", window, frame.seq, keypad.shown)
        else:
            keypad.shown = self._press(window, frame)
            keypad.last, keypad.last_at = frame, now
            self.handled += 1
        return encode_frame(window, ACK, frame.seq, display_payload(keypad.shown))

    def _press(self, window: int, frame: Frame) -> str:
        """Carry out a press; returns what the keypad shows."""
        try:
            shown = self._carry_out(window, frame)
        except WindowPaused:
            log.info("keypad %d: %s refused, the window is paused", window, frame.command)
            return PAUSED
        except (httpx.HTTPError, PressFailed, ValueError, KeyError, TypeError) as exc:
            log.warning("keypad %d: %s failed: %s: %s", window, frame.command, type(exc).__name__, exc)
            return FAILED
        log.info("keypad %d: %s → %r", window, frame.command, shown)
        return shown

    def _carry_out(self, window: int, frame: Frame) -> str:
        command = frame.command
        if command not in KEYPAD_COMMANDS:
            raise PressFailed(f"unknown command {command!r}")
        if command == "P":
            return self._toggle_pause(window)
        if command == "T":
            if len(frame.payload) != 1 or not 1 <= frame.payload[0] <= MAX_ADDRESS or frame.payload[0] == window:
                raise PressFailed(f"bad transfer target {frame.payload!r}")
            self._post(window, "transfer", {"to": frame.payload[0]})
            return NOBODY  # the number went to the other window
        if command == "S":
            self._post(window, "skip")
            return NOBODY
        body = self._call_next(window) if command == "N" else self._post(window, "recall")
        # The ticket in the answer is at the window only while it is called there: the recall that makes a number a
        # no-show answers with that ticket, now ``skipped``, and nobody is called at the window any more.
        if body is None or body["status"] != "called" or body["window"] != window:
            return NOBODY
        return str(body["number"])

    def _toggle_pause(self, window: int) -> str:
        """P: pause the window if it calls, resume it if it is paused, by its state at the backend now (it may have
        been changed at the console, or before this driver started). A resent P never gets here (see `handle`)."""
        board = self._get("/queue/board")
        paused = window in board["paused"]
        body = self._post(window, "resume" if paused else "pause")
        if body is None:
            raise PressFailed("the backend knows no such window")
        if body["paused"]:
            return PAUSED
        calling = {int(entry["window"]): str(entry["number"]) for entry in board["calling"]}
        return calling.get(window, NOBODY)

    def _call_next(self, window: int) -> Any:
        """下一位, tried twice when the backend does not answer in time: both tries carry one Idempotency-Key, so
        a first try that got through (its answer lost) makes the second return the same number, never the next."""
        key = f"keypad-{window}-{uuid.uuid4().hex}"
        try:
            return self._post(window, "call-next", key=key)
        except httpx.TransportError as exc:  # timeouts included
            log.warning("keypad %d: call-next unanswered (%s); trying once more", window, type(exc).__name__)
            return self._post(window, "call-next", key=key)

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=f"{self.backend_url}/api/v1", timeout=self.backend_timeout_s, auth=authorize
            )
        return self._client

    def _get(self, path: str) -> Any:
        """GET a queue resource (``/queue/board``); the response body."""
        response = self._http().get(path)
        response.raise_for_status()
        return response.json()

    def _post(self, window: int, action: str, json: dict[str, Any] | None = None, *, key: str | None = None) -> Any:
        """POST a window action; the response body, or None for a 404 that means nobody waits / nobody called.
        Raises `WindowPaused` when the backend refused because the window is paused."""
        headers = {"X-Actor": f"keypad:{window}"} | ({"Idempotency-Key": key} if key else {})
        response = self._http().post(f"/queue/windows/{window}/{action}", json=json, headers=headers)
        if response.status_code == 404 and _error_code(response) != "unknown_window":
            return None
        if response.status_code == 409 and _error_code(response) == "window_paused":
            raise WindowPaused(f"window {window} is paused")
        response.raise_for_status()
        return response.json()


def _error_code(response: httpx.Response) -> str | None:
    """The backend's machine error code (``{"error": {"code": …}}``), if the body has one."""
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
