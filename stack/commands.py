"""The command line of every kind of part, written once for both profiles and the tests' harness.

Each part binds to the interface its own setting names (RASA_HOST, ACTION_HOST, BACKEND_HOST …, loopback by
default); secrets reach it through its environment or the secrets folder, never through its command line.
"""

from __future__ import annotations

import sys
from pathlib import Path

from stack.process import PROJECT_ROOT

PYTHON = sys.executable
"""The environment of everything but Rasa: the one this process runs in (``.venv`` under ``make run`` and the
tests, ``.venv-prod``, the runtime lock only, under ``make run-prod``)."""
RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
MODEL = PROJECT_ROOT / "models" / "jiujin.tar.gz"
JIUJIN = PROJECT_ROOT / "bin" / "jiujin"
NGINX = Path("/usr/sbin/nginx")
RASA_ENV = {"SQLALCHEMY_SILENCE_UBER_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
"""Quiet TensorFlow and SQLAlchemy's 2.0 notice in Rasa's log."""
RASA_READY_S = 900.0
"""Rasa imports TensorFlow and loads the model before it answers (about 90 s of CPU each); two at once on 2 cores
shared with other work take several minutes."""


def backend() -> tuple[str, ...]:
    """The backend (BACKEND_HOST, BACKEND_PORT, DATABASE_URL … from the environment)."""
    return (PYTHON, "-m", "backend")


def counter() -> tuple[str, ...]:
    """The counter service (COUNTER_HOST, COUNTER_PORT, RASA_URL, BACKEND_URL, VOSK_MODEL_PATH … from the
    environment)."""
    return (PYTHON, "-m", "counter")


def actions(port: int) -> tuple[str, ...]:
    """The action server on ``port`` (ACTION_HOST, ACTION_SERVER_TOKEN from the environment or the secrets
    folder)."""
    return (PYTHON, "-m", "actions.serve", "--port", str(port))


def rasa(port: int, *, endpoints: str = "endpoints.yml", model: Path = MODEL) -> tuple[str, ...]:
    """Rasa's launcher (bot/serve.py) serving the trained model on ``port``; the interface, the API token and the
    action server's secret come from the environment (RASA_HOST, RASA_TOKEN_FILE, ACTION_SERVER_TOKEN)."""
    command = (str(RASA_PYTHON), "-m", "bot.serve", "--model", str(model), "--port", str(port))
    return (*command, "--endpoints", endpoints, "--credentials", "credentials.yml")


def wechat_simulator(
    port: int, webhook: str, *, host: str = "127.0.0.1", record: Path | None = None
) -> tuple[str, ...]:
    """The WeChat simulator (WeChat's servers posting to ``webhook``, and its API stand-in)."""
    command = (PYTHON, "-m", "simulators.wechat", "--host", host, "--port", str(port), "--webhook", webhook)
    return (*command, "--record", str(record)) if record is not None else command


def device_simulators(folder: Path, control_port: int, *, control_host: str = "127.0.0.1") -> tuple[str, ...]:
    """The simulated printers, keypads and LED board on pseudo-terminals under ``folder``, with their control."""
    command = (PYTHON, "-m", "simulators.devices", "--folder", str(folder), "--control-port", str(control_port))
    return (*command, "--control-host", control_host)


def devices(backend_url: str, folder: Path) -> tuple[str, ...]:
    """The drivers of the hall's devices (serial ports from PRINTER_PORT_*, KEYPAD_PORT, LED_BOARD_PORT)."""
    return (PYTHON, "-m", "devices", "--backend", backend_url, "--folder", str(folder))


def jiujin(*arguments: str) -> tuple[str, ...]:
    """The project's command line (``bin/jiujin``)."""
    return (str(JIUJIN), *arguments)


def nginx(config: Path, error_log: Path) -> tuple[str, ...]:
    """nginx in the foreground (its configuration says ``daemon off``), so it stays the supervisor's child."""
    return (str(NGINX), "-c", str(config), "-e", str(error_log))


def redis(port: int) -> tuple[str, ...]:
    """A Redis of the stack's own on loopback, without persistence."""
    return ("redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
