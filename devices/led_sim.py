"""An LED board controller simulator on a pseudo-terminal, so `devices.led_board` runs with no board attached.

It speaks `devices.led_protocol`: parses frames, answers ACK or NAK, keeps the four lines, what flashes and the
brightness, and writes the lines to ``out_file`` after each change (the hall's board, readable in a terminal or by
tests). Faults as on the hardware: `corrupt_next(n)` garbles the next n frames on the wire (they are NAK'd),
`unplug()` closes the pty like a pulled cable and `replug()` makes a new one, which an optional stable symlink
(``link``) follows like a udev by-id name. Like the real controller, it forgets its content when unplugged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

from devices import led_protocol as proto
from devices.led_protocol import BadFrame, Frame, FrameReader

logger = logging.getLogger(__name__)


class LedBoardSimulator:
    """The hall's LED board controller on a pty."""

    def __init__(
        self, *, link: Path | None = None, out_file: Path | None = None, address: int = proto.BOARD_ADDRESS
    ) -> None:
        """``link``: a symlink kept pointing at the current port (gone while unplugged); ``out_file``: the lines."""
        self.link, self.out_file, self.address = link, out_file, address
        self._cond = threading.Condition()
        self._reader = FrameReader()
        self._fds: tuple[int, int, int, int] | None = None  # master, slave, wake pipe read and write ends
        self._port: str | None = None
        self._thread: threading.Thread | None = None
        self._corrupt = 0
        self._flash_until: dict[int, float] = {}
        self.lines: list[str] = [""] * proto.LINES
        self.brightness = proto.MAX_BRIGHTNESS
        self.frames: list[Frame] = []
        """Every frame accepted (ACK'd), in order: what the host sent."""
        self.flashes: list[tuple[int, int]] = []
        """Every flash request accepted: (line, seconds)."""
        self.acks = self.naks = 0

    # -- life cycle ----------------------------------------------------------------------------------------------
    def start(self) -> LedBoardSimulator:
        """Plug the board in (and write the blank lines to ``out_file``)."""
        self.replug()
        self._write_out()
        return self

    def stop(self) -> None:
        """Unplug the board."""
        self.unplug()

    def __enter__(self) -> LedBoardSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> str:
        """The slave pty path to open as a serial port; it changes on every `replug()`."""
        if self._port is None:
            raise RuntimeError("LED board simulator is unplugged")
        return self._port

    @property
    def flashing(self) -> set[int]:
        """The lines flashing now."""
        now = time.monotonic()
        with self._cond:
            return {line for line, until in self._flash_until.items() if until > now}

    # -- faults --------------------------------------------------------------------------------------------------
    def corrupt_next(self, n: int = 1) -> None:
        """Garble the next ``n`` frames on the wire: the controller NAKs them."""
        with self._cond:
            self._corrupt += n

    def unplug(self) -> None:
        """Pull the cable: the pty closes (the host's reads and writes fail) and the board loses power."""
        thread, fds = self._thread, self._fds
        if fds is None:
            return
        os.write(fds[3], b"x")
        if thread is not None:
            thread.join()
        with self._cond:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._fds = self._port = self._thread = None
            self._reader.reset()
            self.lines = [""] * proto.LINES
            self._flash_until.clear()
            if self.link is not None:
                self.link.unlink(missing_ok=True)
            self._cond.notify_all()
        self._write_out()
        logger.info("LED board unplugged")

    def replug(self) -> str:
        """Plug in again (a no-op when plugged): a new pty, at a new path, which is returned."""
        if self._fds is not None:
            return self.port
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: bytes pass unchanged
        wake_r, wake_w = os.pipe()
        with self._cond:
            self._fds, self._port = (master, slave, wake_r, wake_w), os.ttyname(slave)
            if self.link is not None:
                tmp = self.link.with_name(self.link.name + ".new")
                tmp.unlink(missing_ok=True)
                tmp.symlink_to(self._port)
                tmp.replace(self.link)
            self._thread = threading.Thread(target=self._read, args=(master, wake_r), name="led-board-sim", daemon=True)
            self._thread.start()
        logger.info("LED board plugged in at %s", self._port)
        return self._port

    # -- tests ---------------------------------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[LedBoardSimulator], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate(self)`` holds (checked after every frame); False after ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    # -- the controller ------------------------------------------------------------------------------------------
    def _read(self, master: int, wake: int) -> None:
        while True:
            timeout = proto.INTER_BYTE_TIMEOUT_S if self._reader.pending else None
            ready, _, _ = select.select([master, wake], [], [], timeout)
            if wake in ready:
                return
            if not ready:
                results = self._reader.expire()
            else:
                try:
                    data = os.read(master, 4096)
                except OSError as exc:
                    logger.warning("LED board: reading the pty failed: %s", exc)
                    return
                results = self._reader.feed(data)
            for result in results:
                reply = self._answer(result)
                if reply is not None:
                    with contextlib.suppress(OSError):
                        os.write(master, bytes([reply]))

    def _answer(self, result: Frame | BadFrame) -> int | None:
        with self._cond:
            try:
                if isinstance(result, BadFrame):
                    logger.info("LED board: bad frame (%s)%s", result.reason, "" if result.nested else ", NAK")
                    return None if result.nested else self._count(proto.NAK)
                if result.address != self.address:
                    return None  # another device on the bus
                if self._corrupt:
                    self._corrupt -= 1
                    logger.info("LED board: frame %r garbled on the wire, NAK", result.command)
                    return self._count(proto.NAK)
                if not self._apply(result):
                    logger.info("LED board: invalid %r frame %r, NAK", result.command, result.payload)
                    return self._count(proto.NAK)
                self.frames.append(result)
                return self._count(proto.ACK)
            finally:
                self._cond.notify_all()

    def _count(self, reply: int) -> int:
        if reply == proto.ACK:
            self.acks += 1
        else:
            self.naks += 1
        return reply

    def _apply(self, frame: Frame) -> bool:
        """Carry out a well-formed frame; False if its command or payload is invalid."""
        payload = frame.payload
        if frame.command == proto.CLEAR and not payload:
            self.lines = [""] * proto.LINES
            self._flash_until.clear()
        elif frame.command == proto.SET_LINE and payload and 1 <= payload[0] <= proto.LINES:
            if len(payload) - 1 > proto.LINE_BYTES:
                return False
            try:
                self.lines[payload[0] - 1] = payload[1:].decode(proto.ENCODING)
            except UnicodeDecodeError:
                return False
        elif frame.command == proto.FLASH and len(payload) == 2 and 1 <= payload[0] <= proto.LINES:
            self._flash_until[payload[0]] = time.monotonic() + payload[1]
            self.flashes.append((payload[0], payload[1]))
            return True
        elif frame.command == proto.BRIGHTNESS and len(payload) == 1 and payload[0] <= proto.MAX_BRIGHTNESS:
            self.brightness = payload[0]
            return True
        else:
            return False
        self._write_out()
        return True

    def _write_out(self) -> None:
        if self.out_file is None:
            return
        self.out_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out_file.with_name(f".{self.out_file.name}.tmp")
        tmp.write_text("".join(line + "\n" for line in self.lines), encoding="utf-8")
        os.replace(tmp, self.out_file)
