"""Whether a part is ready, by the kind of its health URL: HTTP answers 200, Redis answers PING, TCP accepts."""

from __future__ import annotations

import argparse
import socket
import sys
import time
from urllib.parse import urlsplit

import httpx

TIMEOUT_S = 2.0


def answers(url: str) -> bool:
    """True when the service at ``url`` is ready (``http(s)://``, ``redis://`` or ``tcp://host:port``)."""
    scheme = urlsplit(url).scheme
    if scheme in ("http", "https"):
        try:
            return httpx.get(url, timeout=TIMEOUT_S).status_code == 200
        except httpx.HTTPError:
            return False
    if scheme == "redis":
        import redis

        try:
            return bool(redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_S / 4).ping())
        except redis.RedisError:
            return False
    if scheme == "tcp":
        where = urlsplit(url)
        try:
            with socket.create_connection((where.hostname, where.port), timeout=TIMEOUT_S):
                return True
        except OSError:
            return False
    raise ValueError(f"no health check for {url!r}: use http://, redis:// or tcp://")


def wait(url: str, within_s: float, *, every_s: float = 0.5) -> bool:
    """True once ``url`` answers; False when ``within_s`` seconds passed without an answer."""
    deadline = time.monotonic() + within_s
    while not answers(url):
        if time.monotonic() > deadline:
            return False
        time.sleep(every_s)
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m stack.health URL --within SECONDS``: 0 once the URL answers, 1 when it did not in time (a
    systemd unit's ``ExecStartPost``, so the units after it start once it is ready)."""
    parser = argparse.ArgumentParser(prog="python -m stack.health", description=main.__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--within", type=float, default=60.0, help="seconds to wait")
    args = parser.parse_args(argv)
    if wait(args.url, args.within):
        return 0
    print(f"{args.url} did not answer within {args.within:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
