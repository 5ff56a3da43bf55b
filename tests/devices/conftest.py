"""Fixtures for the window keypads: the simulated bus on a pty, and the driver serving it in a thread."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devices.keypad import KeypadBus
from simulators.devices.keypad import KeypadSimulator


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `condition` until it holds (TimeoutError after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def keypads(tmp_path: Path) -> Iterator[KeypadSimulator]:
    """Keypads of windows 1–32 on a simulated bus."""
    with KeypadSimulator(link=tmp_path / "keypads.tty") as simulator:
        yield simulator


@contextlib.contextmanager
def running_bus(keypads: KeypadSimulator, backend_url: str) -> Iterator[KeypadBus]:
    """A driver serving `keypads` against the backend at `backend_url`, stopped (like a restart) afterwards."""
    bus = KeypadBus(str(keypads.link), backend_url, timeout_s=0.1, retry_s=0.1, backend_timeout_s=2.0)
    stop = threading.Event()
    thread = threading.Thread(target=bus.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: bus.connected)  # pyserial empties the input when it opens: press only after that
        yield bus
    finally:
        stop.set()
        thread.join(timeout=5)
        assert not thread.is_alive()
