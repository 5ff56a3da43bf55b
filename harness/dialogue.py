"""Whole dialogue stacks for tests and benchmarks: the backend, the action server and Rasa with the trained model
(`stack.commands`, run by `stack.supervisor`), and the same with WeChat's servers played by the simulator."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from security.tokens import create_secret_file
from stack import commands
from stack.parts import Part, Stack
from stack.process import free_port
from stack.supervisor import running

RASA_ENV = commands.RASA_ENV
RASA_BIN = commands.RASA_PYTHON.parent
MODEL = commands.MODEL
LOOPBACK = "http://127.0.0.1"


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
    counter: str = ""
    """The counter service's base URL (the counters' screens, speech recognition)."""

    def tracker(self, conversation_id: str) -> str:
        """URL of a conversation's tracker through Rasa's API (which wants its token)."""
        return f"{self.rasa}/conversations/{conversation_id}/tracker?token={self.rasa_token}"


def dialogue_parts(
    folder: Path, env: dict[str, str], *, rasa_port: int, rasa_api: bool, simulator_port: int | None = None
) -> Stack:
    """Backend (SQLite in ``folder``), action server, counter service and Rasa on free ports, each with ``env`` added,
    and the WeChat simulator posting to Rasa when ``simulator_port`` is given."""
    backend_port, action_port, counter_port = free_port(), free_port(), free_port()
    backend, action_base, rasa, counter = (
        f"{LOOPBACK}:{port}" for port in (backend_port, action_port, rasa_port, counter_port)
    )
    secrets = Path(env["JIUJIN_SECRETS_DIR"])
    database = f"sqlite:///{folder / 'jiujin.db'}"
    backend_env = env | {"DATABASE_URL": database, "BACKEND_PORT": str(backend_port), "BACKEND_HOST": "127.0.0.1"}
    backend_env["COUNTER_URL"] = counter  # its /kiosk redirects there, `bin/jiujin kiosk url` prints it
    # COUNTER_URL: the WeChat channel inside Rasa posts voice notes there; ACTION_SERVER_URL: where Rasa's actions run.
    rasa_env = commands.RASA_ENV | env | {"ACTION_SERVER_URL": f"{action_base}/webhook", "BACKEND_URL": backend}
    rasa_env["COUNTER_URL"] = counter
    counter_env = env | {"COUNTER_HOST": "127.0.0.1", "COUNTER_PORT": str(counter_port)}
    counter_env |= {"BACKEND_URL": backend, "RASA_URL": rasa}
    if rasa_api:
        rasa_env["RASA_TOKEN_FILE"] = str(secrets / "rasa-token")
    parts = [
        Part("backend", commands.backend(), backend_env, f"{backend}/api/v1/health"),
        Part(
            "actions",
            commands.actions(action_port),
            env | {"BACKEND_URL": backend},
            f"{action_base}/health",
            after=("backend",),
        ),
        Part("counter", commands.counter(), counter_env, f"{counter}/health", after=("backend",)),
        # Rasa imports TensorFlow and loads the model before it answers (about 90 s of CPU): allow minutes.
        Part(
            "rasa",
            commands.rasa(rasa_port),
            rasa_env,
            f"{rasa}/",
            ready_within_s=commands.RASA_READY_S,
            after=("actions",),
        ),
    ]
    if simulator_port is not None:
        webhook = f"{rasa}/webhooks/wechat/webhook"
        simulator = commands.wechat_simulator(simulator_port, webhook)
        parts.insert(0, Part("simulator", simulator, env, f"{LOOPBACK}:{simulator_port}/health"))
    return Stack("test", tuple(parts), folder)


@contextmanager
def dialogue_stack(
    folder: Path, *, env: dict[str, str] | None = None, rasa_port: int | None = None, rasa_api: bool = True
) -> Iterator[DialogueStack]:
    """Backend (SQLite in ``folder``), action server, counter service and Rasa with the trained model, each with
    ``env`` added.

    Every part shares one secrets folder (``folder``/secrets unless ``env`` names JIUJIN_SECRETS_DIR), so they find
    each other's tokens; ``rasa_api``: Rasa's HTTP API is on, with a token of this stack's own (``tracker()``).
    Logs: ``folder``/<part>.log."""
    with _running(folder, env, rasa_port=rasa_port or free_port(), rasa_api=rasa_api) as (stack, _):
        yield stack


@contextmanager
def wechat_dialogue_stack(
    folder: Path, wechat_env: dict[str, str], *, env: dict[str, str] | None = None
) -> Iterator[tuple[DialogueStack, str]]:
    """`dialogue_stack` with WeChat's servers played by the simulator (``wechat_env``: the channel's credentials);
    yields the stack and the simulator's base URL. The channel keeps its state in ``folder``."""
    simulator_port = free_port()
    simulator = f"{LOOPBACK}:{simulator_port}"
    env = (env or {}) | wechat_env
    env |= {"WECHAT_API_BASE_URL": f"{simulator}/cgi-bin/", "WECHAT_STATE_PATH": str(folder / "wechat-state.db")}
    with _running(folder, env, rasa_port=free_port(), rasa_api=True, simulator_port=simulator_port) as (stack, _):
        yield stack, simulator


@contextmanager
def _running(
    folder: Path,
    env: dict[str, str] | None,
    *,
    rasa_port: int,
    rasa_api: bool,
    simulator_port: int | None = None,
) -> Iterator[tuple[DialogueStack, Stack]]:
    extra = {"JIUJIN_SECRETS_DIR": str(folder / "secrets")} | (env or {})
    secrets = Path(extra["JIUJIN_SECRETS_DIR"])
    token = create_secret_file(secrets / "rasa-token") if rasa_api else ""
    described = dialogue_parts(folder, extra, rasa_port=rasa_port, rasa_api=rasa_api, simulator_port=simulator_port)
    with running(described) as supervisor:
        actions, rasa = supervisor.part("actions"), supervisor.part("rasa")
        assert actions.process is not None and rasa.process is not None
        backend = described.part("backend").env
        yield (
            DialogueStack(
                f"{LOOPBACK}:{backend['BACKEND_PORT']}",
                f"{LOOPBACK}:{rasa_port}",
                actions.process,
                rasa.process,
                token,
                secrets,
                actions.health_url.removesuffix("/health") if actions.health_url else "",
                f"{LOOPBACK}:{described.part('counter').env['COUNTER_PORT']}",
            ),
            described,
        )
