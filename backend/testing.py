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
from security.tokens import create_secret_file

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
    rasa_token: str = ""
    """Rasa's API token ("" when the stack was started without Rasa's API)."""
    secrets: Path | None = None
    """The stack's JIUJIN_SECRETS_DIR: its service tokens and the action server's secret."""
    action_url: str = ""
    """The action server's base URL."""

    def tracker(self, conversation_id: str) -> str:
        """URL of a conversation's tracker through Rasa's API (which wants its token)."""
        return f"{self.rasa}/conversations/{conversation_id}/tracker?token={self.rasa_token}"


def rasa_command(port: int, *, endpoints: str = "endpoints.yml") -> list[str]:
    """Rasa's launcher (bot/serve.py) serving the trained model on ``port``; the interface, the API token and the
    action server's secret come from the environment (RASA_HOST, RASA_TOKEN_FILE, ACTION_SERVER_TOKEN)."""
    command = [str(RASA_BIN / "python"), "-m", "bot.serve", "--model", str(MODEL), "--port", str(port)]
    return [*command, "--endpoints", endpoints, "--credentials", "credentials.yml"]


def action_command(port: int) -> list[str]:
    """The action server's launcher (actions/serve.py) on ``port`` (ACTION_HOST, ACTION_SERVER_TOKEN from the
    environment or the secrets folder)."""
    return [sys.executable, "-m", "actions.serve", "--port", str(port)]


@contextmanager
def dialogue_stack(
    folder: Path, *, env: dict[str, str] | None = None, rasa_port: int | None = None, rasa_api: bool = True
) -> Iterator[DialogueStack]:
    """Backend (SQLite in ``folder``), action server and Rasa with the trained model, each with ``env`` added.

    Every part shares one secrets folder (``folder``/secrets unless ``env`` names JIUJIN_SECRETS_DIR), so they find
    each other's tokens; ``rasa_api``: Rasa's HTTP API is on, with a token of this stack's own (``tracker()``)."""
    backend_port, action_port, rasa_port = free_port(), free_port(), rasa_port or free_port()
    extra = {"JIUJIN_SECRETS_DIR": str(folder / "secrets")} | (env or {})
    secrets = Path(extra["JIUJIN_SECRETS_DIR"])
    token = create_secret_file(secrets / "rasa-token") if rasa_api else ""
    rasa = f"http://127.0.0.1:{rasa_port}"
    database = f"sqlite:///{folder / 'jiujin.db'}"
    with backend_process(database, backend_port, folder / "backend.log", env=extra) as backend:
        action_base = f"http://127.0.0.1:{action_port}"
        with service_process(
            action_command(action_port),
            env=extra | {"BACKEND_URL": backend},
            log=folder / "actions.log",
            health_url=f"{action_base}/health",
        ) as action_server:
            # BACKEND_URL: the WeChat channel inside Rasa posts voice notes to the backend's speech recognition.
            endpoints = {"ACTION_SERVER_URL": f"{action_base}/webhook", "BACKEND_URL": backend}
            rasa_env = RASA_ENV | extra | endpoints
            if rasa_api:
                rasa_env["RASA_TOKEN_FILE"] = str(secrets / "rasa-token")
            # Rasa imports TensorFlow and loads the model before it answers (about 90 s of CPU): allow minutes, not
            # seconds, and more on a machine whose two cores are shared.
            with service_process(
                rasa_command(rasa_port),
                env=rasa_env,
                health_url=f"{rasa}/",
                log=folder / "rasa.log",
                ready_within_s=600,
            ) as rasa_server:
                yield DialogueStack(backend, rasa, action_server, rasa_server, token, secrets, action_base)


@contextmanager
def wechat_dialogue_stack(
    folder: Path, wechat_env: dict[str, str], *, env: dict[str, str] | None = None
) -> Iterator[tuple[DialogueStack, str]]:
    """`dialogue_stack` with WeChat's servers played by the simulator (``wechat_env``: the channel's credentials);
    yields the stack and the simulator's base URL. The channel keeps its state in ``folder``."""
    simulator_port, rasa_port = free_port(), free_port()
    simulator = f"http://127.0.0.1:{simulator_port}"
    webhook = f"http://127.0.0.1:{rasa_port}/webhooks/wechat/webhook"
    env = (env or {}) | wechat_env
    env |= {"WECHAT_API_BASE_URL": f"{simulator}/cgi-bin/", "WECHAT_STATE_PATH": str(folder / "wechat-state.db")}
    command = [sys.executable, "-m", "wechat.simulator", "--port", str(simulator_port), "--webhook", webhook]
    with (
        service_process(command, env=env, health_url=f"{simulator}/health", log=folder / "simulator.log"),
        dialogue_stack(folder, env=env, rasa_port=rasa_port) as stack,
    ):
        yield stack, simulator


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
