"""The window keypads' RS-485 bus on a pseudo-terminal, so the keypad driver runs with no hardware attached.

The driver opens `KeypadSimulator.port` with pyserial as it would open the USB-RS485 adapter. `press()` sends the
frame a keypad sends for a key (its seq counting up per keypad), `press(..., resend=True)` sends that keypad's last
frame again as a keypad does when the answer does not come, and `send_raw()` puts any bytes on the bus (noise,
collisions). The answers the driver sends are decoded and kept per window: `display()` is what the keypad shows.

`unplug()` closes the pty like a pulled adapter (the driver's reads and writes fail) and `replug()` makes a new one
at a new path, which an optional stable symlink (`link`) follows like a udev by-id name.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from devices.keypad_protocol import ACK, Frame, FrameReader, encode_frame
from simulators.devices.pty_device import PtyDevice

logger = logging.getLogger(__name__)

KEYS = {
    **{letter: letter for letter in "NRSPT"},
    **{"下一位": "N", "重呼": "R", "过号": "S", "暂停": "P", "转窗口": "T"},
}
"""Key names `press()` accepts: the command letters and the labels printed on the keys."""


class KeypadSimulator(PtyDevice):
    """Keypads of windows 1–32 on one bus (a pty): presses, resends, raw bytes, and what each display shows."""

    label = "keypad bus"

    def __init__(self, *, link: Path | None = None) -> None:
        """`link`, if given, is a symlink kept pointing at the current port (it disappears while unplugged)."""
        super().__init__(link=link)
        self._reader = FrameReader()
        self._seq: dict[int, int] = {}
        self._last: dict[int, bytes] = {}
        self._displays: dict[int, str] = {}
        self.acks: list[Frame] = []
        """Every answer the driver sent, in order."""

    # -- the keypads ---------------------------------------------------------------------------------------------
    def press(self, window: int, key: str, target: int | None = None, *, resend: bool = False) -> None:
        """Press `key` (N R S P T or 下一位 重呼 过号 暂停 转窗口) on `window`'s keypad; `target` is T's window.

        With `resend=True` the keypad's previous frame goes out again unchanged (same seq), `key` notwithstanding.
        """
        if resend:
            with self._cond:
                frame = self._last.get(window)
            if frame is None:
                raise ValueError(f"keypad {window} has sent nothing to resend")
            self.send_raw(frame)
            return
        command = KEYS.get(key)
        if command is None:
            raise ValueError(f"no key {key!r}; keys are {sorted(KEYS)}")
        if (command == "T") != (target is not None):
            raise ValueError("a target window goes with the transfer key, and only with it")
        with self._cond:
            seq = self._seq[window] = (self._seq.get(window, -1) + 1) % 256
            frame = self._last[window] = encode_frame(window, command, seq, b"" if target is None else bytes([target]))
        self.send_raw(frame)

    def send_raw(self, data: bytes) -> None:
        """Put `data` on the bus as it is (damaged frames, noise)."""
        fds = self._fds
        if fds is None:
            raise RuntimeError("keypad bus simulator is unplugged")
        os.write(fds[0], data)

    def seq(self, window: int) -> int | None:
        """The seq of `window`'s last press (None before the first)."""
        with self._cond:
            return self._seq.get(window)

    def display(self, window: int) -> str | None:
        """What `window`'s keypad shows: the last text the driver sent it (None before any)."""
        with self._cond:
            return self._displays.get(window)

    def wait_display(self, window: int, text: str, timeout: float = 2.0) -> None:
        """Wait until `window`'s keypad shows `text` (TimeoutError after `timeout` seconds)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._displays.get(window) == text, timeout):
                shown = self._displays.get(window)
                raise TimeoutError(f"keypad {window} shows {shown!r}, not {text!r}, after {timeout}s")

    def wait_acks(self, window: int, count: int, timeout: float = 2.0) -> list[Frame]:
        """The answers sent to `window`, once there are at least `count` (TimeoutError after `timeout` seconds)."""

        def mine() -> list[Frame]:
            return [ack for ack in self.acks if ack.address == window]

        with self._cond:
            if not self._cond.wait_for(lambda: len(mine()) >= count, timeout):
                raise TimeoutError(f"keypad {window} got {len(mine())} answers, not {count}, within {timeout}s")
            return mine()

    # -- the device ------------------------------------------------------------------------------------------------
    def _received(self, data: bytes) -> bytes | None:
        with self._cond:
            for frame in self._reader.feed(data):
                if frame.command != ACK:
                    continue
                self.acks.append(frame)
                self._displays[frame.address] = frame.payload.decode("ascii", errors="replace")
                self._cond.notify_all()
        return None

    def _unplugged(self) -> None:
        self._reader.reset()  # a half-received answer died with the transfer
