"""Service tokens of the internal REST API, and secret files created once, atomically, readable by their owner only.

Every service that calls the backend's internal API presents its own bearer token, so the audit log can say which
one acted and a leaked token can be replaced alone:

=========  ==========================================  =============================
service    who                                         file under the secrets folder
=========  ==========================================  =============================
tools      ``bin/jiujin``, tests, operators' scripts   ``api-token`` (fixed contract)
actions    the action servers (filing, queue numbers)  ``actions-token``
devices    printer workers, keypads, boards            ``devices-token``
channels   Rasa's channels (WeChat voice notes, …)     ``channels-token``
=========  ==========================================  =============================

A token is read from ``JIUJIN_<SERVICE>_TOKEN`` when set (production passes each part only its own), else from
its file in ``JIUJIN_SECRETS_DIR`` (default ``var/secrets`` of the project). The backend creates the missing files
when it starts (``make run``), so every other part finds them; nothing puts a token on a command line.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVICES: tuple[str, ...] = ("tools", "actions", "devices", "channels")
"""The callers of the internal API that hold a service token."""
_FILES = {"tools": "api-token"}


def secrets_dir() -> Path:
    """JIUJIN_SECRETS_DIR, else the project's ``var/secrets``."""
    configured = os.environ.get("JIUJIN_SECRETS_DIR", "").strip()
    return Path(configured) if configured else PROJECT_ROOT / "var" / "secrets"


def token_path(service: str) -> Path:
    """Where ``service``'s token is kept when the environment does not carry it."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    return secrets_dir() / _FILES.get(service, f"{service}-token")


def token_variable(service: str) -> str:
    """The environment variable that carries ``service``'s token (e.g. ``JIUJIN_ACTIONS_TOKEN``)."""
    return f"JIUJIN_{service.upper()}_TOKEN"


def create_secret_file(path: Path, *, nbytes: int = 32) -> str:
    """The secret in ``path``, made first when missing: written to a private temporary file (mode 0600) and linked
    into place, so two processes starting at once agree on one secret and nobody ever reads half of one."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(secrets.token_urlsafe(nbytes) + "\n")
        with contextlib.suppress(FileExistsError):  # another process got there first: theirs is kept
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> str:
    value = path.read_text(encoding="ascii").strip()
    if not value:
        raise ValueError(f"{path} is empty: delete it to have a new secret made")
    return value


def configured_secret(variable: str, path: Path, *, create: bool = False) -> str | None:
    """A secret from the environment variable ``variable`` when set, else from the file ``path``; None when neither
    has one (``create``: make the file instead). An empty file is an error, never a secret."""
    from_env = os.environ.get(variable, "").strip()
    if from_env:
        return from_env
    if create:
        return create_secret_file(path)
    try:
        return _read(path)
    except FileNotFoundError:
        return None


def service_token(service: str, *, create: bool = False) -> str | None:
    """``service``'s token from its environment variable or its file; None when neither has one (``create``: make
    the file instead)."""
    return configured_secret(token_variable(service), token_path(service), create=create)


def internal_api_url(environ: Mapping[str, str] | None = None) -> str:
    """Where a service finds the backend's internal API: BACKEND_URL, else ``http://127.0.0.1:$BACKEND_PORT`` (8000);
    a ValueError for anything but an http(s) URL."""
    env = os.environ if environ is None else environ
    port = env.get("BACKEND_PORT", "").strip() or "8000"
    url = env.get("BACKEND_URL", "").strip() or f"http://127.0.0.1:{port}"
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"BACKEND_URL must be an http(s) URL, got {url!r}")
    return url.rstrip("/")


def bearer_headers(service: str) -> dict[str, str]:
    """``Authorization: Bearer …`` for a client of the internal API acting as ``service`` ({} without a token: the
    backend will answer 401, which names the missing token)."""
    token = service_token(service)
    return {"Authorization": f"Bearer {token}"} if token else {}
