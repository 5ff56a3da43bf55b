"""A part's process: started with a parent-death signal, checked for readiness, stopped, killed or restarted.

A part runs in a session of its own (the supervisor stops it, its workers included, by its process group, and a
Ctrl-C in the terminal reaches the supervisor alone). So that no part outlives its supervisor, even one killed with
SIGKILL, each child asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``). The kernel sends it
when the *thread* that started the child ends, so every part is started from one thread that lives as long as the
supervising process (`_spawner`), whichever thread asks for the start.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stack.health import answers
from stack.parts import Part

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_S = 20.0
"""A part asked to stop (SIGTERM) that is still running after this long is killed."""
PR_SET_PDEATHSIG = 1
POLL_S = 0.25

_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stack-spawner")
"""The one thread that starts every part (see the module's docstring)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for the parts nobody outside needs to find)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PartFailed(RuntimeError):
    """A part did not become ready; the message carries the end of its log."""


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the child sent SIGTERM when its parent dies; None where the kernel has no such
    thing (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def spawn(
    command: list[str], *, env: Mapping[str, str], cwd: Path, stdout: int | object, new_session: bool = True
) -> subprocess.Popen[bytes]:
    """``command`` started from the spawner thread, with the parent-death signal, in a session of its own."""

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=stdout,  # type: ignore[arg-type]
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
            preexec_fn=_die_with_parent(),
        )

    return _spawner.submit(start).result()


def passed_environment(withheld: frozenset[str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The supervisor's environment without the secrets every part must not see (``withheld``)."""
    source = os.environ if base is None else base
    return {key: value for key, value in source.items() if key not in withheld}


class RunningPart:
    """A part of a running stack: its description and, once started, its process."""

    def __init__(self, part: Part, log_file: Path, *, withheld: frozenset[str] = frozenset()) -> None:
        self.description = part
        self.log = log_file
        self.withheld = withheld
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return self.description.name

    @property
    def health_url(self) -> str | None:
        return self.description.health_url

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
            env = passed_environment(self.withheld) | dict(self.description.env)
            self.process = spawn(list(self.description.command), env=env, cwd=PROJECT_ROOT, stdout=out)

    def is_ready(self) -> bool:
        if self.description.oneshot:
            return self.process is not None and self.process.poll() == 0
        if not self.running:
            return False
        return self.health_url is None or answers(self.health_url)

    def wait_ready(self) -> None:
        """Block until the part is ready; PartFailed if it stops (a one-shot part: fails) or takes too long."""
        deadline = time.monotonic() + self.description.ready_within_s
        while not self.is_ready():
            finished = self.process is None or self.process.poll() is not None
            if finished or time.monotonic() > deadline:
                if finished:
                    code = self.process.returncode if self.process is not None else None
                    why = f"stopped (exit {code})"
                else:
                    why = f"was not ready within {self.description.ready_within_s:.0f} s"
                raise PartFailed(f"{self.name} {why}; the end of {self.log}:\n{self.tail()}")
            time.sleep(POLL_S)

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
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def tail(self, characters: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-characters:]
        except FileNotFoundError:
            return "(no log)"
