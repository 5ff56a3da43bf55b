"""Voice counters as devices: provisioning (``bin/jiujin kiosk add|url|list|revoke``) and their credentials.

A counter's credential is ``<name>.<mac>``, where ``mac`` is an HMAC-SHA256 of the counters' server secret
(``counters-secret`` in the secrets folder of `security.tokens`, made once, mode 0600) over the counter's name and
its ``generation``. Invariants:

- nothing stored in the database opens a counter: the table holds names and generations only;
- ``kiosk url`` can print a counter's credential again (it is derived, not random), and only while the counter is
  active;
- revoking makes the credential fail at once; adding the counter again moves it to the next generation, so a
  credential copied before the revocation never works again;
- the counter service asks the backend whose credential a request carries (``POST /api/v1/counters/authenticate``,
  `backend.api.counters`), so a revocation holds from the counter's next request;
- the counter's own machine (the microphone side) reads its credential from ``JIUJIN_COUNTER_KEY`` or
  ``<secrets>/counters/<name>.key`` (0600, `security.counter_keys`), which ``kiosk add`` writes and ``kiosk revoke``
  removes; never from a command line.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from backend.db import Database
from backend.models import CounterDevice, utcnow
from backend.services import audit
from security.counter_keys import counter_key_path, write_counter_key
from security.tokens import create_secret_file, secrets_dir

log = logging.getLogger(__name__)

COUNTER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
"""A counter's name: lower-case letters, digits and hyphens (``counter-1``); it appears in its credential."""


@dataclass(frozen=True)
class CounterInfo:
    """A provisioned counter as the command line shows it."""

    name: str
    active: bool
    generation: int
    created_at: dt.datetime


def server_secret(folder: Path | None = None) -> bytes:
    """The counters' server secret (made on first use, atomically, mode 0600)."""
    return create_secret_file((folder or secrets_dir()) / "counters-secret").encode()


def credential(secret: bytes, name: str, generation: int) -> str:
    """The credential of counter ``name`` in its ``generation``."""
    message = f"jiujin-counter\0{name}\0{generation}".encode()
    mac = hmac.new(secret, message, hashlib.sha256).digest()
    return f"{name}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def screen_url(base_url: str, key: str) -> str:
    """The address the counter's screen opens: the credential rides in the fragment, which browsers never send to
    a server (so no access log or proxy sees it); the page reads it and sends it as the ``X-Counter-Key`` header."""
    return f"{base_url.rstrip('/')}/kiosk#key={key}"


async def authenticate(db: Database, secret: bytes, presented: str | None) -> str | None:
    """The name of the active counter whose credential is ``presented``; None for anything else."""
    given = (presented or "").strip()
    name, _, mac = given.rpartition(".")
    if not mac or not COUNTER_NAME.fullmatch(name):
        return None
    async with db.read() as session:
        device = await session.get(CounterDevice, name)
    if device is None or not device.active:
        return None
    expected = credential(secret, name, device.generation)
    return name if hmac.compare_digest(expected.encode(), given.encode()) else None


async def add(db: Database, secret: bytes, name: str, *, actor: str = "cli") -> tuple[str, str]:
    """Provision counter ``name`` (or re-activate a revoked one, in a new generation); idempotent for an active
    counter. Returns its credential and what happened: ``created``, ``reactivated`` or ``unchanged``."""
    if not COUNTER_NAME.fullmatch(name):
        raise ValueError(f"counter name {name!r}: use lower-case letters, digits and hyphens (e.g. counter-1)")
    async with db.write() as session:
        device = await session.get(CounterDevice, name)
        if device is None:
            device = CounterDevice(name=name, generation=1, active=True)
            session.add(device)
            outcome = "created"
        elif not device.active:
            device.generation, device.active, device.revoked_at = device.generation + 1, True, None
            outcome = "reactivated"
        else:
            outcome = "unchanged"
        if outcome != "unchanged":
            audit.record(session, actor, f"counter.{outcome}", "counter", name, generation=device.generation)
        key = credential(secret, name, device.generation)
    write_counter_key(name, key)
    return key, outcome


async def revoke(db: Database, name: str, *, actor: str = "cli") -> bool:
    """Revoke counter ``name`` at once: its screen and microphone are refused from their next request (a stream
    within `counter.kiosk.RECHECK_S`). False when there was no active counter of that name."""
    async with db.write() as session:
        device = await session.get(CounterDevice, name)
        if device is None or not device.active:
            return False
        device.active, device.revoked_at = False, utcnow()
        audit.record(session, actor, "counter.revoke", "counter", name, generation=device.generation)
    counter_key_path(name).unlink(missing_ok=True)
    return True


async def current_key(db: Database, secret: bytes, name: str) -> str | None:
    """The credential of active counter ``name``; None when it is not provisioned or revoked."""
    async with db.read() as session:
        device = await session.get(CounterDevice, name)
    return credential(secret, name, device.generation) if device is not None and device.active else None


async def listing(db: Database) -> list[CounterInfo]:
    """Every counter ever provisioned, by name."""
    async with db.read() as session:
        devices = (await session.execute(select(CounterDevice).order_by(CounterDevice.name))).scalars()
        return [CounterInfo(d.name, d.active, d.generation, d.created_at) for d in devices]
