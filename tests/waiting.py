"""Waiting in tests for something another process does (a printer, a server, a background sender)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T | None], within_s: float = 20, what: str = "", every_s: float = 0.1) -> T:
    """Poll ``condition`` every ``every_s`` seconds until it gives something truthy, and return that; fail naming
    ``what`` when ``within_s`` seconds pass first."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(every_s)
    raise AssertionError(f"not within {within_s} s: {what}")


async def eventually(
    condition: Callable[[], T | None], within_s: float = 20, what: str = "", every_s: float = 0.01
) -> T:
    """`wait_for` inside an event loop: the loop runs the awaited work while ``condition`` is polled."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if result := condition():
            return result
        await asyncio.sleep(every_s)
    raise AssertionError(f"not within {within_s} s: {what}")
