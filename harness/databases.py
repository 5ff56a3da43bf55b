"""Throw-away PostgreSQL databases on the local server, for tests and benchmarks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url

DEFAULT_POSTGRES_ADMIN_URL = "postgresql://root@127.0.0.1:5432/test"


@contextmanager
def temporary_postgres_database(
    admin_url: str = DEFAULT_POSTGRES_ADMIN_URL, *, template: str | None = None
) -> Iterator[str]:
    """A new database on the server of ``admin_url``, empty or a copy of the database named ``template`` (which
    nobody may be connected to meanwhile); yields its URL and drops it afterwards."""
    name = f"jiujin_tmp_{uuid.uuid4().hex[:12]}"
    admin = make_url(admin_url)
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
