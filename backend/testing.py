"""Helpers for tests and benchmarks: real server processes (the backend alone or the whole dialogue stack),
throw-away PostgreSQL databases, and the held-out evaluation of the trained model."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from backend.config import PROJECT_ROOT

DEFAULT_POSTGRES_ADMIN_URL = "postgresql://root@127.0.0.1:5432/test"


@contextmanager
def temporary_postgres_database(admin_url: str = DEFAULT_POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A new, empty database on the server of ``admin_url``; yields its URL and drops it afterwards."""
    name = f"jiujin_tmp_{uuid.uuid4().hex[:12]}"
    admin = make_url(admin_url)
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def resident_id_number(area: str = "330106", born: str = "19900307", seq: str = "121") -> str:
    """A valid 18-character resident ID number (GB 11643 check character), for tests and benchmarks."""
    body = f"{area}{born}{seq}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def service_process(
    command: list[str], *, env: dict[str, str], health_url: str, log: Path, ready_within_s: float = 60
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until ``health_url`` answers 200 (or fail with the log's tail); stop it afterwards."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=os.environ | env, stdout=out, stderr=out)
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
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def backend_process(
    database_url: str, port: int, log: Path, *, ready_within_s: float = 60, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Run ``python -m backend`` on ``database_url`` and ``port``; yield its base URL; stop it afterwards."""
    base = f"http://127.0.0.1:{port}"
    env = (env or {}) | {"DATABASE_URL": database_url, "BACKEND_PORT": str(port), "BACKEND_HOST": "127.0.0.1"}
    with service_process(
        [sys.executable, "-m", "backend"],
        env=env,
        health_url=f"{base}/api/v1/health",
        log=log,
        ready_within_s=ready_within_s,
    ):
        yield base


RASA_ENV = {"SQLALCHEMY_SILENCE_UBER_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
RASA_BIN = PROJECT_ROOT / ".venv-rasa" / "bin"
MODEL = PROJECT_ROOT / "models" / "jiujin.tar.gz"


@dataclass(frozen=True)
class DialogueStack:
    """The running parts of the dialogue stack: base URLs, and the processes a test may pause or stop."""

    backend: str
    rasa: str
    actions: subprocess.Popen[bytes]
    rasa_process: subprocess.Popen[bytes]


@contextmanager
def dialogue_stack(
    folder: Path, *, env: dict[str, str] | None = None, rasa_port: int | None = None
) -> Iterator[DialogueStack]:
    """Backend (SQLite in ``folder``), action server and Rasa with the trained model, each with ``env`` added."""
    backend_port, action_port, rasa_port = free_port(), free_port(), rasa_port or free_port()
    extra = env or {}
    rasa = f"http://127.0.0.1:{rasa_port}"
    database = f"sqlite:///{folder / 'jiujin.db'}"
    with backend_process(database, backend_port, folder / "backend.log", env=extra) as backend:
        actions = [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port)]
        with service_process(
            actions,
            env=extra | {"BACKEND_URL": backend},
            log=folder / "actions.log",
            health_url=f"http://127.0.0.1:{action_port}/health",
        ) as action_server:
            command = [
                str(RASA_BIN / "rasa"),
                "run",
                "--enable-api",
                "--model",
                str(MODEL),
                "--port",
                str(rasa_port),
                "--endpoints",
                "endpoints.yml",
                "--credentials",
                "credentials.yml",
            ]
            # BACKEND_URL: the WeChat channel inside Rasa posts voice notes to the backend's speech recognition.
            endpoints = {"ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}/webhook", "BACKEND_URL": backend}
            rasa_env = RASA_ENV | extra | endpoints
            # Rasa imports TensorFlow and loads the model before it answers: allow minutes, not seconds.
            with service_process(
                command, env=rasa_env, health_url=f"{rasa}/status", log=folder / "rasa.log", ready_within_s=300
            ) as rasa_server:
                yield DialogueStack(backend, rasa, action_server, rasa_server)


def heldout_evaluation(report: Path) -> dict[str, Any]:
    """Run ``bot.evaluate`` on the held-out and homophone sets with the trained model; return its report."""
    done = subprocess.run(
        [
            str(RASA_BIN / "python"),
            "-m",
            "bot.evaluate",
            "tests/nlu/heldout.yml",
            "tests/nlu/homophones.yml",
            "--model",
            str(MODEL),
            "--out",
            str(report),
        ],
        cwd=PROJECT_ROOT,
        env=os.environ | RASA_ENV,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bot.evaluate failed:\n{done.stderr[-3000:]}")
    return json.loads(report.read_text(encoding="utf-8"))
