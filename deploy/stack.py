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

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import jinja2

from deploy import postgres
from deploy.processes import Part, free_port
from deploy.refusals import (
    DATABASE_PASSWORD_FILE,
    DEVELOPMENT_WECHAT,
    demo_warning,
    generate_secrets,
    production_problems,
    resolve_secrets,
)
from security.launch import ACTION_SECRET_VARIABLE, LOOPBACK, RASA_TOKEN_VARIABLE
from security.tokens import create_secret_file, token_variable

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
MODEL = PROJECT_ROOT / "models" / "jiujin.tar.gz"
NGINX = "/usr/sbin/nginx"
RASA_READY_S = 900.0
"""Rasa imports TensorFlow and loads the model before it answers (about 90 s of CPU each); two at once on 2 cores
shared with other work take several minutes."""


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
    front_host: str = LOOPBACK
    """The interface of nginx's public port (FRONT_HOST); every other listener of the stack stays on loopback."""
    secrets: Path | None = None
    """The deployment's secrets folder (tokens, the database password); None: ``folder``/secrets."""
    app_role: str = "jiujin_app"
    """The least-privilege PostgreSQL login role the parts connect as (owner of the two databases, nothing more)."""
    demo: bool = False
    """Start with demonstration secrets (development WeChat credentials, generated tokens, a passwordless superuser,
    the SMS outbox) instead of refusing them; says so loudly. Tests and benchmarks use it."""

    @property
    def secrets_folder(self) -> Path:
        return self.secrets or self.folder / "secrets"


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
    """The backend's database, as the app role (its password included: for the parts and tests, never logged)."""
    tracker_database_url: str
    redis_url: str
    simulator: str | None
    """The WeChat simulator (its API stand-in records every outbound call); None with a real Official Account."""
    devices_control: str | None
    """The printer simulators' control (paper-out, unplug, replug …); None without devices."""
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    """Every secret by its variable's name (JIUJIN_TOOLS_TOKEN, RASA_TOKEN, ACTION_SERVER_TOKEN …)."""

    def headers(self, service: str = "tools") -> dict[str, str]:
        """``Authorization`` for a caller of the internal API acting as ``service`` (tests and operators: tools)."""
        return {"Authorization": f"Bearer {self.secrets[token_variable(service)]}"}

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


def _render_nginx(folder: Path, front_host: str, listeners: dict[str, int], parts: dict[str, list[int]]) -> Path:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent), undefined=jinja2.StrictUndefined, autoescape=False
    )
    text = environment.get_template("nginx.conf.j2").render(
        folder=folder,
        front_host=front_host,
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


def _parts(
    config: StackConfig, folder: Path, secrets: dict[str, str], database_password: str
) -> tuple[ProductionStack, list[list[str]]]:
    """Every part, and the order to start them in (groups started together). Each part gets only the secrets it
    needs, in its environment (processes.Part withholds the others the deploy process may carry)."""
    if not Path(NGINX).exists():
        raise RuntimeError(f"nginx is not installed at {NGINX}: run 'make system' (Debian's nginx package)")
    n = config.instances
    listeners = {"front": config.front_port or free_port(), "internal": free_port(), "actions": free_port()}
    ports = {kind: [free_port() for _ in range(n)] for kind in ("rasa", "actions", "backend")}
    front, internal, actions_front = (f"http://127.0.0.1:{port}" for port in listeners.values())
    if config.front_host not in (LOOPBACK, "0.0.0.0", "::"):  # bound to one address only: reach it there
        front = f"http://{config.front_host}:{listeners['front']}"
    role = config.app_role
    database_url = postgres.role_url(config.postgres_admin_url, config.database, role, database_password)
    tracker_url = postgres.role_url(config.postgres_admin_url, config.tracker_database, role, database_password)
    parts: dict[str, Part] = {}
    common = {
        "JIUJIN_ENV": "demo" if config.demo else "production",
        "JIUJIN_SECRETS_DIR": str(config.secrets_folder),
    }

    def add(name: str, command: list[str], env: dict[str, str], health: str | None, **kwargs: object) -> None:
        environment = common | config.env | env
        parts[name] = Part(name, command, environment, folder / f"{name}.log", PROJECT_ROOT, health, **kwargs)

    def tokens(*services: str) -> dict[str, str]:
        return {token_variable(s): secrets[token_variable(s)] for s in services}

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
        env = shared | {"DATABASE_URL": database_url, "BACKEND_HOST": LOOPBACK, "BACKEND_PORT": str(port)}
        env |= tokens("tools", "actions", "devices", "channels")  # the backend checks every caller's token
        add(f"backend-{i}", [sys.executable, "-m", "backend"], env, f"http://127.0.0.1:{port}/api/v1/health")
    nginx_config = _render_nginx(folder, config.front_host, listeners, ports)
    add("nginx", [NGINX, "-c", str(nginx_config), "-e", str(folder / "nginx-error.log")], {}, None)
    action_secret = {ACTION_SECRET_VARIABLE: secrets[ACTION_SECRET_VARIABLE]}
    for i, port in enumerate(ports["actions"], 1):
        command = [sys.executable, "-m", "actions.serve", "--port", str(port)]
        env = shared | {"ACTION_HOST": LOOPBACK} | action_secret | tokens("actions")
        add(f"actions-{i}", command, env, f"http://127.0.0.1:{port}/health")
    if simulator is not None:
        command = [sys.executable, "-m", "wechat.simulator", "--host", LOOPBACK, "--port", simulator.rsplit(":", 1)[1]]
        command += ["--webhook", f"{front}/webhooks/wechat/webhook", "--record", str(folder / "wechat-outbound.jsonl")]
        add("wechat-simulator", command, wechat_env, f"{simulator}/health")
    rasa_env = shared | {
        "RASA_HOST": LOOPBACK,
        RASA_TOKEN_VARIABLE: secrets[RASA_TOKEN_VARIABLE],
        "ACTION_SERVER_URL": f"{actions_front}/webhook",
        "TRACKER_DATABASE_URL": tracker_url,
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        # A ticket of an instance that died mid-turn blocks its conversation this long on the others.
        "TICKET_LOCK_LIFETIME": "20",
        "POSTGRESQL_POOL_SIZE": "5",
        "POSTGRESQL_MAX_OVERFLOW": "10",
    }
    rasa_env |= action_secret | tokens("channels")  # channels: WeChat voice notes go to the backend's recognition
    for i, port in enumerate(ports["rasa"], 1):
        command = [str(RASA_PYTHON), "-m", "bot.serve", "--model", str(MODEL), "--port", str(port)]
        command += ["--endpoints", "deploy/endpoints.yml", "--credentials", "credentials.yml"]
        # "/" answers once the model is loaded (Rasa binds its port only then); no token in a URL.
        add(f"rasa-{i}", command, rasa_env, f"http://127.0.0.1:{port}/", ready_within_s=RASA_READY_S)
    devices_control = None
    if config.devices:
        control_port = free_port()
        devices_control = f"http://127.0.0.1:{control_port}"
        command = [sys.executable, "-m", "devices", "--backend", internal, "--folder", str(folder / "devices")]
        command += ["--control-port", str(control_port), "--follow-url", f"{front}/follow"]
        add("devices", command, tokens("devices"), f"{devices_control}/health")

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
        secrets[RASA_TOKEN_VARIABLE],
        database_url,
        tracker_url,
        redis_url,
        simulator,
        devices_control,
        secrets,
    )
    return stack, [group for group in order if group]


class Refused(RuntimeError):
    """The configuration carries demonstration secrets and ``demo`` was not given; ``problems`` says which."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("refusing to start the production configuration:\n- " + "\n- ".join(problems))
        self.problems = problems


def check(config: StackConfig, environ: dict[str, str] | None = None) -> list[str]:
    """What this configuration would be refused for (empty: nothing). The database's admin role is asked."""
    environ = dict(os.environ if environ is None else environ)
    if config.wechat_env is not None:
        environ |= config.wechat_env
    else:
        environ.pop("WECHAT_APPID", None)  # no Official Account given: the development credentials would be used
    environ |= config.env
    admin = postgres.admin_role(config.postgres_admin_url)
    return production_problems(environ, config.secrets_folder, admin)


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@contextmanager
def production_stack(config: StackConfig, *, drop_databases: bool = False) -> Iterator[ProductionStack]:
    """Start every part in order (each group together, then waiting until all of it is ready); stop them all at
    the end, in reverse order. ``drop_databases``: the stack's databases and app role are thrown away afterwards
    (tests). Refused (``Refused``) with demonstration secrets unless ``config.demo``, which makes what is missing."""
    if not MODEL.exists():
        raise RuntimeError(f"no trained model at {MODEL}: run 'make model'")
    os.umask(0o077)  # logs, nginx's configuration, the devices' files: the deployment's user only
    folder = config.folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    problems = check(config)
    if problems and not config.demo:
        raise Refused(problems)
    if config.demo:
        generate_secrets(config.secrets_folder, os.environ)
        log.warning("%s", demo_warning(problems))
    secrets = resolve_secrets(config.secrets_folder, os.environ)
    password = create_secret_file(config.secrets_folder / DATABASE_PASSWORD_FILE)
    postgres.ensure_app_role(config.postgres_admin_url, config.app_role, password)
    for name in (config.database, config.tracker_database):
        postgres.create_database(config.postgres_admin_url, name)
        postgres.hand_over_database(config.postgres_admin_url, name, config.app_role)
    stack, order = _parts(config, folder, secrets, password)
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
            postgres.drop_role(config.postgres_admin_url, config.app_role)
