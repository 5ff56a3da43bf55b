"""The production configuration on this machine: nginx in front of N Rasa instances, N action servers and N backend
replicas, on PostgreSQL (cases in one database, conversations in another) and Redis (conversation locks, WeChat
de-duplication, allowances and the access token).

::

    WeChat, residents ──► nginx :front ──┬─► Rasa ×N ──► nginx :actions ──► action servers ×N ──┐
                                          └─► backend ×N (pages, public reads)                     │
    devices, actions, Rasa ──► nginx :internal ──► backend ×N (the whole API) ◄──────────────────────┘
    PostgreSQL: backend database + tracker database      Redis: locks + WeChat state

``production_stack(config)`` starts it and stops it again; parts are named (``rasa-1``, ``actions-2``,
``backend-1``, ``nginx``, ``wechat-simulator``, ``devices``, ``redis``) so a test can kill or restart one.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import jinja2

from deploy import postgres
from deploy.processes import Part, free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RASA = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"
MODEL = PROJECT_ROOT / "models" / "jiujin.tar.gz"
NGINX = "/usr/sbin/nginx"
DEVELOPMENT_WECHAT = {
    "WECHAT_APPID": "wxjiujindevelop01",
    "WECHAT_SECRET": "jiujin-development-secret",
    "WECHAT_TOKEN": "jiujin-development-token",
    "WECHAT_AES_KEY": "jiujinDevelopmentOnlyAesKey0123456789abcdef",
}
"""Development-only WeChat credentials: with them the stack talks to the WeChat simulator, not to WeChat."""
RASA_READY_S = 420.0
"""Rasa imports TensorFlow and loads the model before it answers; two at once on 2 cores take a few minutes."""


@dataclass(frozen=True)
class StackConfig:
    """What to start, and where."""

    folder: Path
    """Logs, nginx's configuration and the devices' files."""
    instances: int = 2
    """Rasa instances, action servers and backend replicas (N of each)."""
    postgres_admin_url: str = "postgresql://root@127.0.0.1:5432/test"
    """A database on the PostgreSQL server to connect to while creating the stack's own databases."""
    database: str = "jiujin"
    """The backend's database (cases, tickets, staff …); created when missing."""
    tracker_database: str = "jiujin_tracker"
    """Rasa's conversations; created when missing."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis for locks and WeChat state. Ignored with ``private_redis``."""
    private_redis: bool = False
    """Run a redis-server of the stack's own (part ``redis``), which a fault test may stop."""
    front_port: int = 0
    """nginx's public port; 0: a free one."""
    wechat_env: dict[str, str] | None = None
    """WECHAT_* of a real Official Account; None: development credentials and the WeChat simulator."""
    devices: bool = False
    """Printer workers (with printer simulators on pseudo-terminals unless PRINTER_PORT_* are set)."""
    env: dict[str, str] = field(default_factory=dict)
    """Added to every part's environment (tuning knobs in tests and benchmarks)."""


@dataclass
class ProductionStack:
    """The running stack: its URLs, and its parts by name."""

    config: StackConfig
    front: str
    """The public front (nginx): webhooks, pages, the read-only public API."""
    internal: str
    """The whole backend API behind nginx, for the action servers, devices and tests."""
    actions_front: str
    parts: dict[str, Part]
    wechat_env: dict[str, str]
    rasa_token: str
    database_url: str
    tracker_database_url: str
    redis_url: str
    simulator: str | None
    """The WeChat simulator (its API stand-in records every outbound call); None with a real Official Account."""
    devices_control: str | None
    """The printer simulators' control (paper-out, unplug, replug …); None without devices."""

    def part(self, name: str) -> Part:
        return self.parts[name]

    def names(self, prefix: str) -> list[str]:
        """The parts whose names start with ``prefix`` (e.g. ``rasa-``), in order."""
        return [name for name in self.parts if name.startswith(prefix)]

    def url(self, name: str) -> str:
        """A part's own base URL, bypassing nginx (for tests that look inside one instance)."""
        return urlsplit(self.parts[name].health_url or "")._replace(path="", query="").geturl()

    def tracker(self, name: str, conversation_id: str) -> str:
        """URL of a conversation's tracker on Rasa instance ``name`` (Rasa's HTTP API, token-protected)."""
        return f"{self.url(name)}/conversations/{conversation_id}/tracker?token={self.rasa_token}"


def _render_nginx(folder: Path, listeners: dict[str, int], parts: dict[str, list[int]]) -> Path:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent), undefined=jinja2.StrictUndefined, autoescape=False
    )
    text = environment.get_template("nginx.conf.j2").render(
        folder=folder,
        front_port=listeners["front"],
        internal_port=listeners["internal"],
        actions_port=listeners["actions"],
        rasa_ports=parts["rasa"],
        action_ports=parts["actions"],
        backend_ports=parts["backend"],
    )
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / "nginx-temp" / temp).mkdir(parents=True, exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(text, encoding="utf-8")
    return config


def _parts(config: StackConfig, folder: Path) -> tuple[ProductionStack, list[list[str]]]:
    """Every part, and the order to start them in (groups started together)."""
    if not Path(NGINX).exists():
        raise RuntimeError(f"nginx is not installed at {NGINX}: run 'make system' (Debian's nginx package)")
    n = config.instances
    listeners = {"front": config.front_port or free_port(), "internal": free_port(), "actions": free_port()}
    ports = {kind: [free_port() for _ in range(n)] for kind in ("rasa", "actions", "backend")}
    front, internal, actions_front = (f"http://127.0.0.1:{port}" for port in listeners.values())
    database_url = postgres.database_url(config.postgres_admin_url, config.database)
    tracker_url = postgres.database_url(config.postgres_admin_url, config.tracker_database)
    token = secrets.token_urlsafe(24)
    parts: dict[str, Part] = {}

    def add(name: str, command: list[str], env: dict[str, str], health: str | None, **kwargs: object) -> None:
        parts[name] = Part(name, command, config.env | env, folder / f"{name}.log", PROJECT_ROOT, health, **kwargs)

    redis_url = config.redis_url
    if config.private_redis:
        redis_port = free_port()
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        command = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        add("redis", command, {}, None, ready=lambda: _redis_answers(redis_url))

    simulator = None
    wechat_env = dict(config.wechat_env or DEVELOPMENT_WECHAT)
    if config.wechat_env is None:
        simulator_port = free_port()
        simulator = f"http://127.0.0.1:{simulator_port}"
        wechat_env["WECHAT_API_BASE_URL"] = f"{simulator}/cgi-bin/"
    shared = wechat_env | {"REDIS_URL": redis_url, "BACKEND_URL": internal, "RASA_URL": front}

    for i, port in enumerate(ports["backend"], 1):
        env = shared | {"DATABASE_URL": database_url, "BACKEND_HOST": "127.0.0.1", "BACKEND_PORT": str(port)}
        add(f"backend-{i}", [sys.executable, "-m", "backend"], env, f"http://127.0.0.1:{port}/api/v1/health")
    nginx_config = _render_nginx(folder, listeners, ports)
    add("nginx", [NGINX, "-c", str(nginx_config), "-e", str(folder / "nginx-error.log")], {}, None)
    for i, port in enumerate(ports["actions"], 1):
        command = [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)]
        add(f"actions-{i}", command, shared, f"http://127.0.0.1:{port}/health")
    if simulator is not None:
        command = [sys.executable, "-m", "wechat.simulator", "--port", str(simulator.rsplit(":", 1)[1])]
        command += ["--webhook", f"{front}/webhooks/wechat/webhook", "--record", str(folder / "wechat-outbound.jsonl")]
        add("wechat-simulator", command, wechat_env, f"{simulator}/health")
    rasa_env = shared | {
        "ACTION_SERVER_URL": f"{actions_front}/webhook",
        "TRACKER_DATABASE_URL": tracker_url,
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        # A ticket of an instance that died mid-turn blocks its conversation this long on the others.
        "TICKET_LOCK_LIFETIME": "20",
        "POSTGRESQL_POOL_SIZE": "5",
        "POSTGRESQL_MAX_OVERFLOW": "10",
    }
    for i, port in enumerate(ports["rasa"], 1):
        command = [str(RASA), "run", "--model", str(MODEL), "--port", str(port), "--enable-api"]
        command += ["--auth-token", token, "--endpoints", "deploy/endpoints.yml", "--credentials", "credentials.yml"]
        health = f"http://127.0.0.1:{port}/status?token={token}"
        add(f"rasa-{i}", command, rasa_env, health, ready_within_s=RASA_READY_S)
    devices_control = None
    if config.devices:
        control_port = free_port()
        devices_control = f"http://127.0.0.1:{control_port}"
        command = [sys.executable, "-m", "devices", "--backend", internal, "--folder", str(folder / "devices")]
        command += ["--control-port", str(control_port), "--follow-url", f"{front}/follow"]
        add("devices", command, {}, f"{devices_control}/health")

    order = [
        ["redis"] if config.private_redis else [],
        [name for name in parts if name.startswith("backend-")],
        ["nginx"],
        [name for name in parts if name.startswith(("actions-", "wechat-simulator"))],
        [name for name in parts if name.startswith("rasa-")],
        ["devices"] if config.devices else [],
    ]
    stack = ProductionStack(
        config,
        front,
        internal,
        actions_front,
        parts,
        wechat_env,
        token,
        database_url,
        tracker_url,
        redis_url,
        simulator,
        devices_control,
    )
    return stack, [group for group in order if group]


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@contextmanager
def production_stack(config: StackConfig, *, drop_databases: bool = False) -> Iterator[ProductionStack]:
    """Start every part in order (each group together, then waiting until all of it is ready); stop them all at
    the end, in reverse order. ``drop_databases``: the stack's databases are thrown away afterwards (tests)."""
    if not MODEL.exists():
        raise RuntimeError(f"no trained model at {MODEL}: run 'make model'")
    folder = config.folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for name in (config.database, config.tracker_database):
        postgres.create_database(config.postgres_admin_url, name)
    stack, order = _parts(config, folder)
    started: list[Part] = []
    try:
        for group in order:
            for name in group:
                stack.parts[name].start()
                started.append(stack.parts[name])
            for name in group:
                stack.parts[name].wait_ready()
        yield stack
    finally:
        for part in reversed(started):
            part.stop()
        if drop_databases:
            for name in (config.database, config.tracker_database):
                postgres.drop_database(config.postgres_admin_url, name)
