"""A small closed-loop load driver: N requests with C in flight, reporting rate and latency percentiles."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Figures:
    """What one measured run achieved."""

    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    errors: int

    @property
    def rate(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


Call = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


async def drive(call: Call, *, requests: int, concurrency: int, expect: set[int]) -> Figures:
    """Issue ``requests`` calls, ``concurrency`` at a time; count answers outside ``expect`` as errors."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for n in counter:
            started = time.perf_counter()
            response = await call(client, n)
            latencies.append(time.perf_counter() - started)
            errors += response.status_code not in expect

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*[worker(client) for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return Figures(len(latencies), elapsed, quantiles[49] * 1000, quantiles[94] * 1000, errors)
