"""What the production configuration refuses to start with, and the secrets of a deployment.

``make run-prod`` (``python -m deploy``) stops before starting anything when it finds a demonstration secret:
the development WeChat credentials of the repository (or none), no Rasa API token, no action-server secret, no
service tokens, the SMS outbox, or a superuser database role without a password. ``--demo`` starts anyway (every
missing secret generated, the development WeChat credentials and the simulator) and says so loudly on every start.

Secrets of a deployment come from the environment (``.env``, a vault) or from files in its secrets folder
(``JIUJIN_SECRETS_DIR``, default ``var/prod/secrets``), each readable by its owner only (0600);
``python -m deploy --generate-secrets`` makes the missing files once.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from security.launch import ACTION_SECRET_FILE, ACTION_SECRET_VARIABLE, RASA_TOKEN_VARIABLE
from security.tokens import SERVICES, create_secret_file, token_path, token_variable
from stack.development import DEVELOPMENT_WECHAT

RASA_TOKEN_FILE = "rasa-token"
DATABASE_PASSWORD_FILE = "database-password"
DEMO_BAR = "!" * 100
DEMO_WARNING = """{bar}
!! DEMO MODE (--demo): NOT FOR RESIDENTS' DATA. This production configuration runs with demonstration secrets:
!! {problems}
!! Never let real residents reach it.
{bar}"""


@dataclass(frozen=True)
class DatabaseRole:
    """The role the deployment connects to PostgreSQL with to create its databases and its app role."""

    name: str
    superuser: bool
    has_password: bool


@dataclass(frozen=True)
class Secret:
    """One secret of the deployment: the environment variable that may carry it, else its file."""

    label: str
    variable: str
    file: str


def deployment_secrets() -> list[Secret]:
    """Every secret a production stack needs: the service tokens, Rasa's API token, the action server's secret."""
    secrets = [Secret(f"service token {s!r}", token_variable(s), token_path(s).name) for s in SERVICES]
    secrets.append(Secret("Rasa's API token", RASA_TOKEN_VARIABLE, RASA_TOKEN_FILE))
    secrets.append(Secret("the action server's secret", ACTION_SECRET_VARIABLE, ACTION_SECRET_FILE))
    return secrets


def _secret_problem(secret: Secret, environ: Mapping[str, str], folder: Path) -> str | None:
    if environ.get(secret.variable, "").strip():
        return None
    path = folder / secret.file
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"no {secret.label}: set {secret.variable} or run `python -m deploy --generate-secrets` (makes {path})"
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"{path} ({secret.label}) is readable by others: chmod 600 {path}"
    if not path.read_text(encoding="ascii", errors="replace").strip():
        return f"{path} ({secret.label}) is empty: delete it and run `python -m deploy --generate-secrets`"
    return None


def production_problems(environ: Mapping[str, str], folder: Path, admin: DatabaseRole | None) -> list[str]:
    """Why this environment must not run as production (empty: it may). ``folder``: the deployment's secrets;
    ``admin``: the database role the deployment administers PostgreSQL with (None: not checked)."""
    problems: list[str] = []
    if not environ.get("WECHAT_APPID", "").strip():
        problems.append("WECHAT_APPID is not set: production does not fall back to the development WeChat credentials")
    else:
        for key in ("WECHAT_SECRET", "WECHAT_TOKEN"):
            if not environ.get(key, "").strip():
                problems.append(f"{key} is not set (the Official Account's credentials)")
    problems += [
        f"{key} is the development value from the repository"
        for key, value in DEVELOPMENT_WECHAT.items()
        if environ.get(key, "").strip() == value
    ]
    problems += [p for secret in deployment_secrets() if (p := _secret_problem(secret, environ, folder))]
    if (environ.get("SMS_SENDER", "").strip() or "outbox") == "outbox":
        problems.append("SMS_SENDER is the development outbox (codes and whole phone numbers in a file)")
    if admin is not None and admin.superuser and not admin.has_password:
        problems.append(f"the database role {admin.name!r} is a superuser without a password (POSTGRES_ADMIN_URL)")
    return problems


def generate_secrets(folder: Path, environ: Mapping[str, str]) -> list[Path]:
    """Make every secret file of ``folder`` the environment does not carry (0600, atomically); the files made."""
    made = []
    for secret in deployment_secrets():
        path = folder / secret.file
        if not environ.get(secret.variable, "").strip() and not path.exists():
            create_secret_file(path)
            made.append(path)
    return made


def resolve_secrets(folder: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """Each secret's value by its environment variable's name: from ``environ``, else its file in ``folder``."""
    values = {}
    for secret in deployment_secrets():
        value = environ.get(secret.variable, "").strip()
        if not value:
            value = (folder / secret.file).read_text(encoding="ascii").strip()
        values[secret.variable] = value
    return values


def demo_warning(problems: list[str]) -> str:
    """The banner ``--demo`` prints on every start, naming what would have been refused."""
    listed = "\n!! ".join(problems or ["(none: every secret is a real one)"])
    return DEMO_WARNING.format(bar=DEMO_BAR, problems=listed)


def default_secrets_folder(project_root: Path) -> Path:
    """JIUJIN_SECRETS_DIR when set, else the deployment's own ``var/prod/secrets`` (not ``make run``'s)."""
    configured = os.environ.get("JIUJIN_SECRETS_DIR", "").strip()
    return Path(configured) if configured else project_root / "var" / "prod" / "secrets"
