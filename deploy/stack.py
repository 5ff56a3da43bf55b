"""The production configuration on this machine: `stack.production`'s parts, prepared and run.

``production_stack(config)`` refuses demonstration secrets (unless ``demo``), makes the databases and the app role,
renders nginx's configuration, starts every part in order through `stack.supervisor` and stops them again; parts
are named (``rasa-1``, ``actions-2``, ``backend-1``, ``nginx``, ``counter``, ``wechat-simulator``, ``devices``,
``redis`` …) so a test can kill or restart one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import jinja2

from deploy import postgres
from deploy.refusals import (
    DATABASE_PASSWORD_FILE,
    DEVELOPMENT_WECHAT,
    demo_warning,
    generate_secrets,
    production_problems,
    resolve_secrets,
)
from security.launch import LOOPBACK, RASA_TOKEN_VARIABLE
from security.tokens import create_secret_file, token_variable
from stack import commands
from stack.process import PROJECT_ROOT, RunningPart
from stack.production import Ports, Production
from stack.production import stack as production_description
from stack.supervisor import Supervisor

log = logging.getLogger(__name__)

__all__ = ["MODEL", "PROJECT_ROOT", "ProductionStack", "Refused", "StackConfig", "check", "production_stack"]

MODEL = commands.MODEL


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
    """The device drivers (with the device simulators on pseudo-terminals unless PRINTER_PORT_* … are set)."""
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
    supervisor: Supervisor
    front: str
    """The public front (nginx): webhooks, pages, the read-only public API."""
    internal: str
    """The whole backend API behind nginx, for the action servers, devices and tests."""
    actions_front: str
    wechat_env: dict[str, str]
    rasa_token: str
    database_url: str
    """The backend's database, as the app role (its password included: for the parts and tests, never logged)."""
    tracker_database_url: str
    redis_url: str
    simulator: str | None
    """The WeChat simulator (its API stand-in records every outbound call); None with a real Official Account."""
    devices_control: str | None
    """The device simulators' control (paper-out, unplug, replug …); None without simulated devices."""
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    """Every secret by its variable's name (JIUJIN_TOOLS_TOKEN, RASA_TOKEN, ACTION_SERVER_TOKEN …)."""

    @property
    def parts(self) -> dict[str, RunningPart]:
        return self.supervisor.parts

    def headers(self, service: str = "tools") -> dict[str, str]:
        """``Authorization`` for a caller of the internal API acting as ``service`` (tests and operators: tools)."""
        return {"Authorization": f"Bearer {self.secrets[token_variable(service)]}"}

    def part(self, name: str) -> RunningPart:
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


def _render_nginx(
    folder: Path,
    front_host: str,
    listeners: dict[str, int],
    parts: dict[str, list[int]],
    *,
    counter_port: int = 0,
) -> Path:
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
        counter_port=counter_port,
    )
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / "nginx-temp" / temp).mkdir(parents=True, exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(text, encoding="utf-8")
    return config


def render_nginx(folder: Path, front_host: str, ports: Ports) -> Path:
    """nginx's configuration for ``ports``, written into ``folder``."""
    listeners = {"front": ports.front, "internal": ports.internal, "actions": ports.actions_front}
    upstreams = {"rasa": list(ports.rasa), "actions": list(ports.actions), "backend": list(ports.backend)}
    return _render_nginx(folder, front_host, listeners, upstreams, counter_port=ports.counter)


def production(
    config: StackConfig, folder: Path, ports: Ports, secrets: dict[str, str], database_password: str
) -> Production:
    """What `stack.production` describes for ``config`` (nginx's configuration rendered on the way)."""
    if not commands.NGINX.exists():
        raise RuntimeError(f"nginx is not installed at {commands.NGINX}: run 'make system' (Debian's nginx package)")
    role, admin = config.app_role, config.postgres_admin_url
    return Production(
        folder=folder,
        ports=ports,
        nginx_config=render_nginx(folder, config.front_host, ports),
        database_url=postgres.role_url(admin, config.database, role, database_password),
        tracker_database_url=postgres.role_url(admin, config.tracker_database, role, database_password),
        redis_url=config.redis_url,
        secrets=secrets,
        wechat_env=dict(config.wechat_env or DEVELOPMENT_WECHAT),
        simulate_wechat=config.wechat_env is None,
        front_host=config.front_host,
        private_redis=config.private_redis,
        devices=config.devices,
        environ=dict(os.environ) | config.env,
        env=config.env,
        common={
            "JIUJIN_ENV": "demo" if config.demo else "production",
            "JIUJIN_SECRETS_DIR": str(config.secrets_folder),
        },
    )


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


def prepare(config: StackConfig) -> tuple[dict[str, str], str]:
    """Refuse demonstration secrets (unless ``demo``, which makes what is missing), then make the app role and the
    databases; the deployment's secrets and the database password."""
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
    return secrets, password


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
    secrets, password = prepare(config)
    described = production(config, folder, Ports.free(config.instances, config.front_port), secrets, password)
    supervisor = Supervisor(production_description(described))
    try:
        supervisor.start()
        yield ProductionStack(
            config,
            supervisor,
            described.front,
            described.internal,
            described.actions_front,
            described.parts_wechat_env,
            secrets[RASA_TOKEN_VARIABLE],
            described.database_url,
            described.tracker_database_url,
            described.redis,
            described.simulator,
            described.device_control,
            secrets,
        )
    finally:
        supervisor.stop()
        if drop_databases:
            for name in (config.database, config.tracker_database):
                postgres.drop_database(config.postgres_admin_url, name)
            postgres.drop_role(config.postgres_admin_url, config.app_role)
