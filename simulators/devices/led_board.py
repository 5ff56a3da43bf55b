"""An LED board controller simulator on a pseudo-terminal, so `devices.led_board` runs with no board attached.

It speaks `devices.led_protocol`: parses frames, answers ACK or NAK, keeps the four lines, what flashes and the
brightness, and writes the lines to ``out_file`` after each change (the hall's board, readable in a terminal or by
tests). Faults as on the hardware: `corrupt_next(n)` garbles the next n frames on the wire (they are NAK'd),
`unplug()` closes the pty like a pulled cable and `replug()` makes a new one, which an optional stable symlink
(``link``) follows like a udev by-id name. Like the real controller, it forgets its content when unplugged.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

from devices import led_protocol as proto
from devices.led_protocol import BadFrame, Frame, FrameReader
from simulators.devices.pty_device import PtyDevice

logger = logging.getLogger(__name__)


class LedBoardSimulator(PtyDevice):
    """The hall's LED board controller on a pty."""

    label = "LED board"

    def __init__(
        self, *, link: Path | None = None, out_file: Path | None = None, address: int = proto.BOARD_ADDRESS
    ) -> None:
        """``link``: a symlink kept pointing at the current port (gone while unplugged); ``out_file``: the lines."""
        super().__init__(link=link)
        self.out_file, self.address = out_file, address
        self._reader = FrameReader()
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
    def start(self) -> Self:
        """Plug the board in (and write the blank lines to ``out_file``)."""
        super().start()
        self._write_out()
        return self

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
        super().unplug()
        self._write_out()

    def _unplugged(self) -> None:
        self._reader.reset()
        self.lines = [""] * proto.LINES
        self._flash_until.clear()

    # -- tests ---------------------------------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[LedBoardSimulator], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate(self)`` holds (checked after every frame); False after ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    # -- the controller ------------------------------------------------------------------------------------------
    # -- the device ------------------------------------------------------------------------------------------------
    def _idle_timeout(self) -> float | None:
        return proto.INTER_BYTE_TIMEOUT_S if self._reader.pending else None

    def _received(self, data: bytes) -> bytes | None:
        return self._replies(self._reader.feed(data))

    def _idle(self) -> bytes | None:
        return self._replies(self._reader.expire())  # a frame cut off by silence

    def _replies(self, results: list[Frame | BadFrame]) -> bytes | None:
        replies = [reply for reply in map(self._answer, results) if reply is not None]
        return bytes(replies) or None

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
