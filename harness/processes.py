"""Real server processes for tests and benchmarks: a free port, a process that runs until its health URL answers,
the backend alone, and what a process tree listens on."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from stack import commands
from stack.process import PROJECT_ROOT, free_port, spawn

__all__ = ["backend_process", "free_port", "listening_addresses", "service_process"]


@contextmanager
def service_process(
    command: list[str], *, env: dict[str, str], health_url: str, log: Path, ready_within_s: float = 60
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until ``health_url`` answers 200 (or fail with the log's tail); stop it afterwards. It never
    outlives the test run (`stack.process.spawn`), and neither do its workers: it runs in a process group of its own,
    which is stopped whole (a server stopped while it was still starting its workers leaves none behind)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:  # started as the stack starts its parts: it dies with the test run
        process = spawn(command, env=os.environ | env, cwd=PROJECT_ROOT, stdout=out)
    try:
        deadline = time.monotonic() + ready_within_s
        while True:
            try:
                if httpx.get(health_url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{command[0]} did not start ({health_url}); last log lines:\n{tail}")
            time.sleep(0.3)
        yield process
    finally:
        _signal_group(process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        _signal_group(process, signal.SIGKILL)  # whatever of the group is left (a worker whose server is gone)
        process.wait()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


@contextmanager
def backend_process(
    database_url: str, port: int, log: Path, *, ready_within_s: float = 60, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Run ``python -m backend`` on ``database_url`` and ``port``; yield its base URL; stop it afterwards."""
    base = f"http://127.0.0.1:{port}"
    env = (env or {}) | {"DATABASE_URL": database_url, "BACKEND_PORT": str(port), "BACKEND_HOST": "127.0.0.1"}
    with service_process(
        list(commands.backend()),
        env=env,
        health_url=f"{base}/api/v1/health",
        log=log,
        ready_within_s=ready_within_s,
    ):
        yield base


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(interface, port) of every TCP socket listening in process ``pid`` and its descendants (a server's workers),
    as the kernel reports them: what a stranger on the network could reach, whatever the logs say."""
    import psutil

    found: set[tuple[str, int]] = set()
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        try:
            sockets = process.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        found |= {(s.laddr.ip, s.laddr.port) for s in sockets if s.status == psutil.CONN_LISTEN}
    return found
