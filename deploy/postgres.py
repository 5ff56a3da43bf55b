"""The PostgreSQL server the stack runs on: creating its databases, and restarting the server (fault tests)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)


def _admin_conninfo(admin_url: str) -> str:
    return make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(admin_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``admin_url`` (same user and password)."""
    return make_url(admin_url).set(drivername="postgresql", database=name).render_as_string(hide_password=False)


def create_database(admin_url: str, name: str) -> bool:
    """Create database ``name`` unless it exists; True when it was created."""
    with psycopg.connect(_admin_conninfo(admin_url), autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        connection.execute(f'CREATE DATABASE "{name}"')
        return True


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(_admin_conninfo(admin_url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def restart_local_server(admin_url: str, *, port: int = 5432, ready_within_s: float = 60) -> float:
    """Restart the local PostgreSQL cluster listening on ``port`` (Debian's pg_ctlcluster, fast shutdown: open
    connections are cut as in a crash of the server process). Returns the seconds it was unreachable."""
    if shutil.which("pg_lsclusters") is None:
        raise RuntimeError("pg_lsclusters not found: restarting PostgreSQL needs Debian's postgresql-common")
    listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    cluster = next((line.split()[:2] for line in listing.splitlines() if line.split()[2:3] == [str(port)]), None)
    if cluster is None:
        raise RuntimeError(f"no local PostgreSQL cluster on port {port}:\n{listing}")
    started = time.monotonic()
    log.info("restarting PostgreSQL %s/%s", *cluster)
    subprocess.run(["pg_ctlcluster", *cluster, "restart", "-m", "fast"], check=True, capture_output=True)
    deadline = started + ready_within_s
    while True:
        try:
            with psycopg.connect(_admin_conninfo(admin_url), connect_timeout=2) as connection:
                connection.execute("SELECT 1")
            return time.monotonic() - started
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
