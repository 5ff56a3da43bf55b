"""The counter service (``python -m counter``) as a real process for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.processes import service_process
from stack import commands


@contextmanager
def counter_process(port: int, log: Path, *, env: dict[str, str]) -> Iterator[str]:
    """Run the counter service on 127.0.0.1:``port`` with ``env`` added (RASA_URL, BACKEND_URL, VOSK_MODEL_PATH,
    KIOSK_IDLE_S …); yield its base URL; stop it afterwards."""
    base = f"http://127.0.0.1:{port}"
    env = env | {"COUNTER_HOST": "127.0.0.1", "COUNTER_PORT": str(port)}
    with service_process(list(commands.counter()), env=env, health_url=f"{base}/health", log=log):
        yield base
