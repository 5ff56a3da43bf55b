"""The supervisor with real processes: parts start in order once the parts they come after are ready, a part
that stops is restarted, everything stops in reverse order, and no part outlives a supervisor killed with SIGKILL
(nginx included): the next start binds the same ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from stack.parts import Part, Stack
from stack.process import PROJECT_ROOT, PartFailed, free_port
from stack.supervisor import Supervisor, running
from tests.stack.supervised import small_stack
from tests.waiting import wait_for

pytestmark = pytest.mark.skipif(not Path("/usr/sbin/nginx").exists(), reason="nginx is not installed (make system)")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _descendants(pid: int) -> list[int]:
    return [child.pid for child in psutil.Process(pid).children(recursive=True)]


@pytest.fixture
def ports() -> list[int]:
    return [free_port(), free_port(), free_port()]


def _start_supervisor(folder: Path, ports: list[int]) -> tuple[subprocess.Popen[str], dict[str, int]]:
    command = [sys.executable, "-m", "tests.stack.supervised", str(folder), *map(str, ports)]
    supervisor = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    assert supervisor.stdout is not None
    line = supervisor.stdout.readline()  # printed once every part is ready
    assert line, f"the supervisor stopped before its parts were ready (exit {supervisor.wait()})"
    return supervisor, json.loads(line)


@pytest.fixture
def killed_supervisor(tmp_path: Path, ports: list[int]) -> Iterator[tuple[dict[str, int], list[int]]]:
    supervisor, pids = _start_supervisor(tmp_path, ports)
    try:
        yield pids, _descendants(supervisor.pid)
    finally:
        supervisor.kill()
        supervisor.wait()


def test_no_part_outlives_a_supervisor_killed_with_sigkill(
    tmp_path: Path, ports: list[int], killed_supervisor: tuple[dict[str, int], list[int]]
) -> None:
    pids, every_process = killed_supervisor
    assert set(pids) == {"first", "second", "nginx"}
    nginx = psutil.Process(pids["nginx"])
    assert nginx.children(), "nginx's master has a worker"
    assert os.getsid(pids["nginx"]) == pids["nginx"]  # each part in a session of its own
    assert all(not _bindable(port) for port in ports)

    supervisor_pid = psutil.Process(pids["first"]).ppid()
    os.kill(supervisor_pid, signal.SIGKILL)

    wait_for(lambda: not any(psutil.pid_exists(pid) for pid in every_process), what="every part gone")
    assert not any(_group_alive(pgid) for pgid in pids.values())
    assert all(_bindable(port) for port in ports)
    again, pids_again = _start_supervisor(tmp_path, ports)  # the next start binds the same ports
    try:
        assert set(pids_again) == set(pids)
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=30) == 0
    assert not any(psutil.pid_exists(pid) for pid in pids_again.values())


def test_parts_start_in_order_and_stop_in_reverse(tmp_path: Path, ports: list[int]) -> None:
    described = small_stack(tmp_path, *ports)
    assert [[part.name for part in group] for group in described.start_order()] == [["first", "nginx"], ["second"]]
    with running(described) as supervisor:
        started = {name: psutil.Process(part.process.pid).create_time() for name, part in supervisor.parts.items()}  # type: ignore[union-attr]
        processes = {name: part.process for name, part in supervisor.parts.items()}
    assert started["first"] <= started["second"]
    assert all(process is not None and process.poll() is not None for process in processes.values())
    assert all(_bindable(port) for port in ports)


def test_a_part_that_stops_is_restarted_by_the_watch(tmp_path: Path, ports: list[int]) -> None:
    with running(small_stack(tmp_path, *ports)) as supervisor:
        first = supervisor.part("first")
        assert first.process is not None
        old = first.process.pid
        stop = threading.Event()
        watch = threading.Thread(target=supervisor.watch, args=(stop,), kwargs={"restart": True}, daemon=True)
        watch.start()
        os.kill(old, signal.SIGKILL)  # a crash
        wait_for(lambda: first.process is not None and first.process.pid != old and first.is_ready(), what="back")
        stop.set()
        watch.join(timeout=10)


def test_the_watch_without_restarts_returns_the_part_that_stopped(tmp_path: Path, ports: list[int]) -> None:
    with running(small_stack(tmp_path, *ports)) as supervisor:
        second = supervisor.part("second")
        assert second.process is not None
        second.process.terminate()
        assert supervisor.watch(threading.Event(), restart=False) is second


def test_a_part_that_never_gets_ready_fails_the_start_with_its_log(tmp_path: Path) -> None:
    port = free_port()
    script = "import time; print('loading the model …', flush=True); time.sleep(60)"
    server = (sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port))
    parts = (
        Part("server", server, {}, f"http://127.0.0.1:{port}/"),
        Part("slow", (sys.executable, "-c", script), {}, f"http://127.0.0.1:{free_port()}/", 2, after=("server",)),
    )
    supervisor = Supervisor(Stack("test", parts, tmp_path))
    started = time.monotonic()
    with pytest.raises(PartFailed, match=r"(?s)slow was not ready within 2 s.*loading the model"):
        supervisor.start()
    assert time.monotonic() - started < 30
    assert all(part.process is None for part in supervisor.parts.values())  # what had started is stopped
    assert _bindable(port)


def test_a_oneshot_part_must_succeed_unless_it_is_not_essential(tmp_path: Path) -> None:
    failing = Part("setup", (sys.executable, "-c", "raise SystemExit(3)"), oneshot=True)
    with pytest.raises(PartFailed, match=r"setup stopped \(exit 3\)"):
        Supervisor(Stack("test", (failing,), tmp_path)).start()
    optional = Part("setup", failing.command, oneshot=True, essential=False)
    after = Part("after", (sys.executable, "-c", "import time; time.sleep(30)"), after=("setup",))
    with running(Stack("test", (optional, after), tmp_path)) as supervisor:
        assert supervisor.part("after").running
        assert supervisor.stopped_parts() == []  # a finished one-shot part is not a stopped part


def test_a_part_started_from_a_thread_that_ends_keeps_running(tmp_path: Path) -> None:
    """The parent-death signal follows the thread that started a child: parts are started from one long-lived
    thread, so a restart from a short-lived one (a test's background fault) does not kill the part it started."""
    port = free_port()
    server = Part("server", (sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)), {}, None)
    supervisor = Supervisor(Stack("test", (server,), tmp_path))
    starter = threading.Thread(target=supervisor.start)
    starter.start()
    starter.join()
    try:
        part = supervisor.part("server")
        wait_for(lambda: not _bindable(port), what="the server listening")
        time.sleep(1)  # a parent-death signal would have arrived by now
        assert part.running
    finally:
        supervisor.stop()
