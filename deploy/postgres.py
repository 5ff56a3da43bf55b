"""The PostgreSQL server the stack runs on: creating its databases, and restarting the server (fault tests)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from deploy.refusals import DatabaseRole

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


def role_url(admin_url: str, name: str, role: str, password: str) -> str:
    """The URL of database ``name`` on the server of ``admin_url``, connecting as ``role`` with ``password``."""
    url = make_url(admin_url).set(drivername="postgresql", database=name, username=role, password=password)
    return url.render_as_string(hide_password=False)


def admin_role(admin_url: str) -> DatabaseRole:
    """The role ``admin_url`` connects as: whether it is a superuser, and whether it has a password at all."""
    with psycopg.connect(_admin_conninfo(admin_url), autocommit=True) as connection:
        row = connection.execute("SELECT rolname, rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        assert row is not None
        name, superuser = str(row[0]), bool(row[1])
        has_password = True  # only a superuser may read pg_authid; any other role is not the danger checked here
        if superuser:
            query = "SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = current_user"
            found = connection.execute(query).fetchone()
            has_password = bool(found and found[0])
    return DatabaseRole(name, superuser, has_password)


def ensure_app_role(admin_url: str, role: str, password: str) -> None:
    """The application's login role, with nothing more: no superuser, no role or database creation, no replication;
    made when missing, its attributes and password set again when present (the password file is the truth)."""
    attributes = sql.SQL("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD {}").format(
        sql.Literal(password)
    )
    with psycopg.connect(_admin_conninfo(admin_url), autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = sql.SQL("ALTER ROLE") if exists else sql.SQL("CREATE ROLE")
        connection.execute(sql.SQL("{} {} {}").format(verb, sql.Identifier(role), attributes))


def hand_over_database(admin_url: str, name: str, role: str) -> None:
    """Make ``role`` the owner of database ``name`` and of everything in its ``public`` schema (a database first
    used as another role keeps working), and let no other non-superuser role connect to it."""
    database = sql.Identifier(name)
    owner = sql.Identifier(role)
    with psycopg.connect(_admin_conninfo(admin_url), autocommit=True) as connection:
        connection.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(database, owner))
        connection.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
    with psycopg.connect(database_url(admin_url, name), autocommit=True) as connection:
        connection.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(owner))
        # Tables first: their serial sequences follow them; then what is left (sequences, views, enum types).
        objects = connection.execute(
            "SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'"
            " ELSE 'TABLE' END, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v', 'm')"
            " ORDER BY c.relkind IN ('r', 'p') DESC"
        ).fetchall()
        for kind, relation in objects:
            still_other = connection.execute(
                "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relname = %s AND pg_get_userbyid(c.relowner) <> %s",
                (relation, role),
            ).fetchone()
            if still_other:
                statement = sql.SQL("ALTER {} public.{} OWNER TO {}")
                connection.execute(statement.format(sql.SQL(kind), sql.Identifier(relation), owner))
        types = connection.execute(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
            " WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd') AND pg_get_userbyid(t.typowner) <> %s",
            (role,),
        ).fetchall()
        for (type_name,) in types:
            statement = sql.SQL("ALTER TYPE public.{} OWNER TO {}")
            connection.execute(statement.format(sql.Identifier(type_name), owner))


def drop_role(admin_url: str, role: str) -> None:
    """Drop the application's role (tests: after its databases are gone)."""
    with psycopg.connect(_admin_conninfo(admin_url), autocommit=True) as connection:
        connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


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
