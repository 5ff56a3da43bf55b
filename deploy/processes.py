"""One supervised process of the stack: started, checked for health, stopped, killed or restarted by name."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from security.tokens import SERVICES, token_variable

log = logging.getLogger(__name__)

STOP_GRACE_S = 20.0
"""A part asked to stop (SIGTERM) that is still running after this long is killed."""
WITHHELD = frozenset(
    {token_variable(s) for s in SERVICES}
    | {"RASA_TOKEN", "RASA_TOKEN_FILE", "ACTION_SERVER_TOKEN", "POSTGRES_ADMIN_URL", "DATABASE_URL"}
)
"""Secrets the deploy process may carry (from .env) that a part gets only when its own ``env`` names them."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for the parts nobody outside needs to find)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def inherited_env() -> dict[str, str]:
    """The deploy process's environment without the secrets every part must not see (``WITHHELD``)."""
    return {key: value for key, value in os.environ.items() if key not in WITHHELD}


class PartFailed(RuntimeError):
    """A part did not become healthy; the message carries the end of its log."""


@dataclass
class Part:
    """A process of the stack (a Rasa instance, an action server, a backend replica, nginx …)."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    cwd: Path
    health_url: str | None = None
    """Answers 200 when the part is ready; None: ready when ``ready`` says so (or at once)."""
    ready: Callable[[], bool] | None = None
    ready_within_s: float = 60.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the process (not waiting for it to be ready)."""
        if self.running:
            return
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=inherited_env() | self.env,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )

    def is_ready(self) -> bool:
        if not self.running:
            return False
        if self.ready is not None and not self.ready():
            return False
        if self.health_url is None:
            return True
        try:
            return httpx.get(self.health_url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self) -> None:
        """Block until the part answers its health check; PartFailed if it dies or takes too long."""
        deadline = time.monotonic() + self.ready_within_s
        while not self.is_ready():
            if not self.running or time.monotonic() > deadline:
                why = "stopped" if not self.running else f"was not ready within {self.ready_within_s:.0f} s"
                raise PartFailed(f"{self.name} {why}; the end of {self.log}:\n{self.tail()}")
            time.sleep(0.25)

    def stop(self) -> None:
        """SIGTERM to the part's process group, then SIGKILL after the grace period. A part whose first process
        already died may have left others of its group running (a server's workers): they are killed."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s: killing it", self.name, STOP_GRACE_S)
        self._signal(signal.SIGKILL)  # whatever of the group is left
        self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL to the whole process group, as a crash or a pulled plug would: no clean-up runs."""
        if self.process is not None:
            self._signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()
        self.wait_ready()

    def _signal(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def tail(self, characters: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-characters:]
        except FileNotFoundError:
            return "(no log)"
