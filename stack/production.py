"""The production profile (``make run-prod``): nginx in front of N Rasa instances, N action servers and N backend
replicas, on PostgreSQL (cases in one database, conversations in another) and Redis; one counter service (a
counter's sessions live in one process). `deploy` prepares what it needs (secrets, databases, nginx's
configuration) and runs it; ``python -m deploy systemd`` writes its systemd units.

::

    WeChat, residents ──► nginx :front ──┬─► Rasa ×N ──► nginx :actions ──► action servers ×N ──┐
                                          └─► backend ×N (pages, public reads)                     │
    devices, actions, Rasa ──► nginx :internal ──► backend ×N (the whole API) ◄──────────────────────┘
    PostgreSQL: backend database + tracker database      Redis: locks + WeChat state

Parts are named ``backend-1``, ``nginx``, ``actions-2``, ``rasa-1``, ``counter``, ``devices`` … Without a real
Official Account the WeChat simulator stands in (``wechat-simulator``), and without serial ports the device
simulators (``device-simulators``): both development-only, never in the units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devices.ports import simulated_ports
from security.launch import ACTION_SECRET_VARIABLE, LOOPBACK, RASA_TOKEN_VARIABLE
from security.tokens import SERVICES, token_variable
from stack import commands
from stack.parts import Part, Stack
from stack.process import free_port

WITHHELD = frozenset(
    {token_variable(s) for s in SERVICES}
    | {"RASA_TOKEN", "RASA_TOKEN_FILE", "ACTION_SERVER_TOKEN", "POSTGRES_ADMIN_URL", "DATABASE_URL"}
)
"""Secrets the supervising process may carry (from .env) that a part gets only when its own ``env`` names them."""
SECRET_SETTINGS = frozenset({"WECHAT_SECRET", "WECHAT_TOKEN", "WECHAT_AES_KEY", "DATABASE_URL", "TRACKER_DATABASE_URL"})
"""Settings whose values are secret besides the deployment's secrets (never written into a unit)."""


@dataclass(frozen=True)
class Ports:
    """Where each part listens (all on loopback but nginx's public front)."""

    front: int
    internal: int
    actions_front: int
    backend: tuple[int, ...]
    actions: tuple[int, ...]
    rasa: tuple[int, ...]
    counter: int
    wechat_simulator: int
    device_control: int
    redis: int

    @classmethod
    def free(cls, instances: int, front: int = 0) -> Ports:
        """Ports nothing listens on now (``front`` 0: a free one too): a stack beside others on one machine."""
        return cls(
            front or free_port(),
            free_port(),
            free_port(),
            *(tuple(free_port() for _ in range(instances)) for _ in range(3)),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        )

    @classmethod
    def fixed(cls, instances: int, front: int = 8080) -> Ports:
        """Known ports, for units that must find each other across restarts (systemd)."""
        return cls(
            front,
            front + 1,
            front + 2,
            tuple(8001 + i for i in range(instances)),
            tuple(5056 + i for i in range(instances)),
            tuple(5006 + i for i in range(instances)),
            5090,
            5070,
            5080,
            6380,
        )


@dataclass(frozen=True)
class Production:
    """What the production stack is made of; `deploy` fills it in."""

    folder: Path
    """Logs, nginx's configuration, the devices' files."""
    ports: Ports
    nginx_config: Path
    """nginx's configuration, rendered for ``ports`` (deploy/nginx.conf.j2)."""
    database_url: str
    """The backend's database as the app role (its password included: a secret)."""
    tracker_database_url: str
    redis_url: str
    """Redis for locks and WeChat state; ignored with ``private_redis`` (see `redis`)."""
    secrets: Mapping[str, str]
    """Every secret by its variable's name; each part is given only its own."""
    wechat_env: Mapping[str, str]
    """WECHAT_* of the Official Account (the development one with ``simulate_wechat``)."""
    simulate_wechat: bool = False
    """The WeChat simulator plays WeChat's servers and API (a demonstration)."""
    front_host: str = LOOPBACK
    private_redis: bool = False
    devices: bool = False
    """The device drivers."""
    simulate_devices: bool = True
    """The device simulators stand in for devices whose port setting is empty in ``environ`` (a demonstration);
    False: every port comes from the deployment's settings."""
    environ: Mapping[str, str] = field(default_factory=dict)
    """The deployment's settings (PRINTER_PORT_*, FOLLOW_URL …)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Added to every part's environment (tuning knobs in tests and benchmarks)."""
    common: Mapping[str, str] = field(default_factory=dict)
    """Given to every part first (JIUJIN_ENV, JIUJIN_SECRETS_DIR)."""

    @property
    def front(self) -> str:
        """The public front as this machine reaches it."""
        host = LOOPBACK if self.front_host in (LOOPBACK, "0.0.0.0", "::") else self.front_host
        return f"http://{host}:{self.ports.front}"

    @property
    def redis(self) -> str:
        """The Redis the parts use: the stack's own on ``ports.redis`` with ``private_redis``."""
        return f"redis://127.0.0.1:{self.ports.redis}/0" if self.private_redis else self.redis_url

    @property
    def internal(self) -> str:
        return f"http://127.0.0.1:{self.ports.internal}"

    @property
    def actions_front(self) -> str:
        return f"http://127.0.0.1:{self.ports.actions_front}"

    @property
    def simulator(self) -> str | None:
        return f"http://127.0.0.1:{self.ports.wechat_simulator}" if self.simulate_wechat else None

    @property
    def parts_wechat_env(self) -> dict[str, str]:
        """WECHAT_* as the parts get them (with the simulator: its API stand-in as WeChat's API)."""
        simulated = {"WECHAT_API_BASE_URL": f"{self.simulator}/cgi-bin/"} if self.simulate_wechat else {}
        return dict(self.wechat_env) | simulated

    @property
    def counter(self) -> str:
        return f"http://127.0.0.1:{self.ports.counter}"

    @property
    def simulated_devices(self) -> dict[str, str]:
        """Port settings of the devices the simulators stand in for, pointing at their pseudo-terminals."""
        if not (self.devices and self.simulate_devices):
            return {}
        return simulated_ports(self.environ, self.folder / "devices")

    @property
    def device_control(self) -> str | None:
        """The device simulators' control (paper-out, unplug, replug …); None without simulated devices."""
        return f"http://127.0.0.1:{self.ports.device_control}" if self.simulated_devices else None


def stack(p: Production) -> Stack:
    """The production stack: every part, with only the secrets it needs, in the order to start them."""
    parts: list[Part] = []
    loopback = "http://127.0.0.1"

    def add(name: str, command: tuple[str, ...], env: Mapping[str, str], health: str | None, **kw: object) -> None:
        environment = {**p.common, **p.env, **env}
        secret = frozenset(k for k in environment if k in p.secrets or k in SECRET_SETTINGS)
        parts.append(Part(name, command, environment, health, secrets=secret, **kw))  # type: ignore[arg-type]

    def tokens(*services: str) -> dict[str, str]:
        return {token_variable(s): p.secrets[token_variable(s)] for s in services}

    backends = tuple(f"backend-{i}" for i in range(1, len(p.ports.backend) + 1))
    wechat_env = p.parts_wechat_env
    shared = wechat_env | {
        "REDIS_URL": p.redis,
        "BACKEND_URL": p.internal,
        "RASA_URL": p.front,
        "COUNTER_URL": p.front,  # counters' screens reach the counter service through nginx (bin/jiujin kiosk url)
    }
    first: tuple[str, ...] = ()
    if p.private_redis:
        add("redis", commands.redis(p.ports.redis), {}, p.redis, summary="Redis of the stack's own")
        first = ("redis",)

    for i, port in enumerate(p.ports.backend, 1):
        env = shared | {"DATABASE_URL": p.database_url, "BACKEND_HOST": LOOPBACK, "BACKEND_PORT": str(port)}
        env |= tokens("tools", "actions", "devices", "channels")  # the backend checks every caller's token
        env["FOLLOW_URL"] = p.env.get("FOLLOW_URL") or f"{p.front}/follow"  # printed QR codes lead there
        add(
            f"backend-{i}",
            commands.backend(),
            env,
            f"{loopback}:{port}/api/v1/health",
            after=first,
            summary=f"jiujin backend replica {i}",
        )
    add(
        "nginx",
        commands.nginx(p.nginx_config, p.folder / "nginx-error.log"),
        {},
        f"tcp://127.0.0.1:{p.ports.internal}",
        after=backends,
        summary="nginx in front of the replicas",
    )
    add(
        "counter",
        (commands.PYTHON, "-m", "counter"),
        shared | {"COUNTER_HOST": LOOPBACK, "COUNTER_PORT": str(p.ports.counter)} | tokens("devices", "channels"),
        f"{p.counter}/health",
        after=("nginx",),
        summary="jiujin counter service (kiosk screens, speech)",
    )
    action_secret = {ACTION_SECRET_VARIABLE: p.secrets[ACTION_SECRET_VARIABLE]}
    for i, port in enumerate(p.ports.actions, 1):
        env = shared | {"ACTION_HOST": LOOPBACK} | action_secret | tokens("actions")
        add(
            f"actions-{i}",
            commands.actions(port),
            env,
            f"{loopback}:{port}/health",
            after=("nginx",),
            summary=f"jiujin action server {i}",
        )
    if p.simulate_wechat:
        record = p.folder / "wechat-outbound.jsonl"
        webhook = f"{p.front}/webhooks/wechat/webhook"
        add(
            "wechat-simulator",
            commands.wechat_simulator(p.ports.wechat_simulator, webhook, host=LOOPBACK, record=record),
            wechat_env,
            f"{p.simulator}/health",
            after=("nginx",),
            development_only=True,
            summary="WeChat's servers and API, simulated",
        )
    rasa_env = shared | {
        "RASA_HOST": LOOPBACK,
        RASA_TOKEN_VARIABLE: p.secrets[RASA_TOKEN_VARIABLE],
        "ACTION_SERVER_URL": f"{p.actions_front}/webhook",
        "TRACKER_DATABASE_URL": p.tracker_database_url,
        "COUNTER_URL": p.counter,  # WeChat voice notes are recognised there
        **commands.RASA_ENV,
        # A ticket of an instance that died mid-turn blocks its conversation this long on the others.
        "TICKET_LOCK_LIFETIME": "20",
        "POSTGRESQL_POOL_SIZE": "5",
        "POSTGRESQL_MAX_OVERFLOW": "10",
    }
    rasa_env |= action_secret | tokens("channels")  # channels: WeChat voice notes go to the counter's recognition
    actions = tuple(name for name in (part.name for part in parts) if name.startswith("actions-"))
    for i, port in enumerate(p.ports.rasa, 1):
        # "/" answers once the model is loaded (Rasa binds its port only then); no token in a URL.
        add(
            f"rasa-{i}",
            commands.rasa(port, endpoints="deploy/endpoints.yml"),
            rasa_env,
            f"{loopback}:{port}/",
            ready_within_s=commands.RASA_READY_S,
            after=actions + (("wechat-simulator",) if p.simulate_wechat else ()),
            summary=f"jiujin Rasa instance {i}",
        )
    if p.devices:
        devices_after = tuple(name for name in (part.name for part in parts) if name.startswith("rasa-"))
        if p.simulated_devices:
            folder = p.folder / "devices"
            add(
                "device-simulators",
                commands.device_simulators(folder, p.ports.device_control),
                {},
                f"{p.device_control}/health",
                after=devices_after,
                development_only=True,
                summary="the hall's printers, keypads and LED board, simulated on pseudo-terminals",
            )
            devices_after += ("device-simulators",)
        add(
            "devices",
            commands.devices(p.internal, p.folder / "devices"),
            tokens("devices") | p.simulated_devices,
            None,
            after=devices_after,
            summary="jiujin device drivers (printers, keypads, LED board, announcements)",
        )
    return Stack("production", tuple(parts), p.folder, withheld=WITHHELD)
