"""What every device simulator shares: a pseudo-terminal that the real driver opens as a serial port, a reader
thread, plugging and unplugging, and a stable name that follows the port like a udev by-id link.

A subclass says what the device does with the bytes it receives (``_received``), what it does when the line is
quiet (``_idle``, after ``_idle_timeout``) and what it forgets when unplugged (``_unplugged``). Everything a
subclass keeps is guarded by ``self._cond``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import tty
from pathlib import Path
from typing import Self

logger = logging.getLogger(__name__)


class PtyDevice:
    """A simulated serial device on a pseudo-terminal."""

    label = "device"
    """How logs name the device."""

    def __init__(self, *, link: Path | None = None) -> None:
        """``link``, if given, is a symlink kept pointing at the current port (it disappears while unplugged)."""
        self.link = link
        self._cond = threading.Condition()
        self._fds: tuple[int, int, int, int] | None = None  # master, slave, wake pipe read and write ends
        self._port: str | None = None
        self._thread: threading.Thread | None = None

    # -- what a device does (subclasses) ---------------------------------------------------------------------------
    def _received(self, data: bytes) -> bytes | None:
        """Bytes from the driver; returns bytes to answer with, if any."""
        raise NotImplementedError

    def _idle_timeout(self) -> float | None:
        """How long the line may stay quiet before ``_idle`` is called (None: never)."""
        return None

    def _idle(self) -> bytes | None:
        """The line stayed quiet for ``_idle_timeout``; returns bytes to answer with, if any."""
        return None

    def _unplugged(self) -> None:
        """Forget what died with the connection (called under the lock)."""

    # -- life cycle ------------------------------------------------------------------------------------------------
    def start(self) -> Self:
        """Plug the device in."""
        self.replug()
        return self

    def stop(self) -> None:
        """Unplug the device."""
        self.unplug()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> str:
        """The pseudo-terminal to open as a serial port; it changes on every `replug()`."""
        if self._port is None:
            raise RuntimeError(f"{self.label} simulator is unplugged")
        return self._port

    def unplug(self) -> None:
        """Pull the cable: the pty closes, so the driver's writes fail and reads report a disconnected device."""
        thread, fds = self._thread, self._fds
        if fds is None:
            return
        os.write(fds[3], b"x")
        if thread is not None:
            thread.join()  # without the lock: the reader takes it for every chunk
        with self._cond:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._fds = self._port = self._thread = None
            self._unplugged()
            if self.link is not None:
                self.link.unlink(missing_ok=True)
            self._cond.notify_all()
        logger.info("%s unplugged", self.label)

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
            self._thread = threading.Thread(target=self._read, args=(master, wake_r), name=self.label, daemon=True)
            self._thread.start()
        logger.info("%s plugged in at %s", self.label, self._port)
        return self._port

    def _read(self, master: int, wake: int) -> None:
        while True:
            ready, _, _ = select.select([master, wake], [], [], self._idle_timeout())
            if wake in ready:
                return
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError as exc:
                    logger.warning("%s: reading the pty failed: %s", self.label, exc)
                    return
                answer = self._received(data)
            else:
                answer = self._idle()
            if answer:
                with contextlib.suppress(OSError):
                    os.write(master, answer)
