"""Doors: production with demonstration secrets, data files others can read, ``make clean`` deleting data.

``make run-prod`` must refuse each demonstration secret unless ``--demo`` (checked through its check function and
its command line, without starting the stack); the role the app connects as must be able to do nothing but own its
databases; what the processes write must be their owner's alone; and ``make clean`` must leave var/ alone.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from backend.config import PROJECT_ROOT, Settings
from backend.pages.follow import follow_secret
from deploy import postgres
from deploy.refusals import (
    DEVELOPMENT_WECHAT,
    DatabaseRole,
    Secret,
    demo_warning,
    deployment_secrets,
    generate_secrets,
    production_problems,
)
from harness.databases import temporary_postgres_database
from harness.processes import backend_process, free_port
from tests.conftest import POSTGRES_ADMIN_URL, SKIP_POSTGRES

REAL_WECHAT = {
    "WECHAT_APPID": "wx5f1e2d3c4b5a6978",
    "WECHAT_SECRET": "a-real-app-secret-from-the-console",
    "WECHAT_TOKEN": "a-real-token-from-the-console",
    "WECHAT_AES_KEY": "RealEncodingAesKeyOf43Characters0123456789a",
}
SAFE_ADMIN = DatabaseRole("deployer", superuser=False, has_password=True)
needs_postgres = pytest.mark.skipif(SKIP_POSTGRES, reason="JIUJIN_SKIP_POSTGRES=1")


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


@pytest.fixture()
def secrets_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "secrets"
    generate_secrets(folder, {})
    return folder


def _production_env() -> dict[str, str]:
    return REAL_WECHAT | {"SMS_SENDER": "aliyun"}


def test_a_configuration_without_demo_secrets_passes(secrets_folder: Path) -> None:
    assert production_problems(_production_env(), secrets_folder, SAFE_ADMIN) == []


def test_no_official_account_means_no_fallback_to_the_development_credentials(secrets_folder: Path) -> None:
    environ = {k: v for k, v in _production_env().items() if k != "WECHAT_APPID"}
    problems = production_problems(environ, secrets_folder, SAFE_ADMIN)
    assert any("WECHAT_APPID is not set" in p for p in problems)


@pytest.mark.parametrize("key", sorted(DEVELOPMENT_WECHAT))
def test_each_development_wechat_credential_is_refused(secrets_folder: Path, key: str) -> None:
    environ = _production_env() | {key: DEVELOPMENT_WECHAT[key]}
    assert production_problems(environ, secrets_folder, SAFE_ADMIN) == [
        f"{key} is the development value from the repository"
    ]


@pytest.mark.parametrize("secret", deployment_secrets(), ids=lambda s: s.file)
def test_each_missing_secret_is_refused_and_the_environment_may_carry_it(secrets_folder: Path, secret: Secret) -> None:
    (secrets_folder / secret.file).unlink()
    problems = production_problems(_production_env(), secrets_folder, SAFE_ADMIN)
    assert len(problems) == 1 and secret.variable in problems[0] and "--generate-secrets" in problems[0]
    carried = _production_env() | {secret.variable: "a-token-from-the-vault"}
    assert production_problems(carried, secrets_folder, SAFE_ADMIN) == []


def test_a_secret_file_others_can_read_is_refused(secrets_folder: Path) -> None:
    token = secrets_folder / "api-token"
    token.chmod(0o644)
    problems = production_problems(_production_env(), secrets_folder, SAFE_ADMIN)
    assert problems == [f"{token} (service token 'tools') is readable by others: chmod 600 {token}"]


def test_the_sms_outbox_is_refused(secrets_folder: Path) -> None:
    for environ in ({**_production_env(), "SMS_SENDER": "outbox"}, REAL_WECHAT):  # set, or the default
        problems = production_problems(environ, secrets_folder, SAFE_ADMIN)
        assert problems == ["SMS_SENDER is the development outbox (codes and whole phone numbers in a file)"]


def test_a_passwordless_superuser_is_refused(secrets_folder: Path) -> None:
    root = DatabaseRole("root", superuser=True, has_password=False)
    problems = production_problems(_production_env(), secrets_folder, root)
    assert problems == ["the database role 'root' is a superuser without a password (POSTGRES_ADMIN_URL)"]
    with_password = DatabaseRole("postgres", superuser=True, has_password=True)
    assert production_problems(_production_env(), secrets_folder, with_password) == []


def test_the_backend_refuses_the_sms_outbox_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMS_SENDER", raising=False)
    monkeypatch.setenv("JIUJIN_ENV", "production")
    with pytest.raises(ValueError, match="SMS_SENDER=outbox is refused in production"):
        Settings.from_env()
    for allowed in ("demo", "development"):
        monkeypatch.setenv("JIUJIN_ENV", allowed)
        assert Settings.from_env().sms_sender == "outbox"


def _deploy(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "JIUJIN_", "RASA_", "SMS_"))}
    clean.pop("ACTION_SERVER_TOKEN", None)
    command = [sys.executable, "-m", "deploy", *argv]
    return subprocess.run(command, cwd=PROJECT_ROOT, env=clean | env, capture_output=True, text=True, timeout=120)


@needs_postgres
def test_make_run_prod_refuses_to_start_with_demo_secrets_and_says_why(tmp_path: Path) -> None:
    env = {"JIUJIN_SECRETS_DIR": str(tmp_path / "secrets"), "POSTGRES_ADMIN_URL": POSTGRES_ADMIN_URL}
    refused = _deploy(["--instances", "1"], env)
    assert refused.returncode == 2, refused.stderr
    assert "refuses to start" in refused.stderr and "--demo" in refused.stderr
    for expected in (
        "WECHAT_APPID is not set",
        "JIUJIN_TOOLS_TOKEN",
        "RASA_TOKEN",
        "ACTION_SERVER_TOKEN",
        "SMS_SENDER",
    ):
        assert expected in refused.stderr
    assert "jiujin (production configuration) is running" not in refused.stdout  # nothing was started

    made = _deploy(["--generate-secrets"], env)
    assert made.returncode == 0, made.stderr
    files = sorted((tmp_path / "secrets").iterdir())
    assert {f.name for f in files} == {s.file for s in deployment_secrets()}
    assert all(_private(f) for f in files) and _private(tmp_path / "secrets")
    admin = postgres.admin_role(POSTGRES_ADMIN_URL)
    if not admin.superuser or admin.has_password:
        return  # with nothing left to refuse, the next run would start the whole stack
    still = _deploy(["--instances", "1"], env | _production_env())
    assert still.returncode == 2
    problems = [line for line in still.stderr.splitlines() if line.startswith("  - ")]
    assert problems == [f"  - the database role {admin.name!r} is a superuser without a password (POSTGRES_ADMIN_URL)"]


def test_demo_mode_says_so_loudly() -> None:
    warning = demo_warning(["WECHAT_APPID is not set"])
    assert "DEMO MODE" in warning and "NOT FOR RESIDENTS' DATA" in warning and "WECHAT_APPID is not set" in warning


@pytest.fixture()
def app_database() -> Iterator[tuple[str, str, str]]:
    if SKIP_POSTGRES:
        pytest.skip("JIUJIN_SKIP_POSTGRES=1")
    role = f"jiujin_app_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    with temporary_postgres_database(POSTGRES_ADMIN_URL) as url:
        name = url.rsplit("/", 1)[1]
        postgres.ensure_app_role(POSTGRES_ADMIN_URL, role, password)
        try:
            yield name, role, password
        finally:
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            postgres.drop_role(POSTGRES_ADMIN_URL, role)


def test_the_app_role_owns_its_database_and_can_do_nothing_more(app_database: tuple[str, str, str]) -> None:
    name, role, password = app_database
    with psycopg.connect(postgres.database_url(POSTGRES_ADMIN_URL, name), autocommit=True) as admin:
        admin.execute("CREATE TABLE cases (id serial PRIMARY KEY, id_number text)")  # a database used before
    postgres.hand_over_database(POSTGRES_ADMIN_URL, name, role)
    with psycopg.connect(POSTGRES_ADMIN_URL) as admin:
        row = admin.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin"
            " FROM pg_roles WHERE rolname = %s",
            (role,),
        ).fetchone()
        owner = admin.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,)).fetchone()
    assert row == (False, False, False, False, False, True) and owner == (role,)

    url = postgres.role_url(POSTGRES_ADMIN_URL, name, role, password)
    with psycopg.connect(url, autocommit=True) as app:
        app.execute("INSERT INTO cases (id_number) VALUES ('x')")  # its own data: yes
        app.execute("CREATE TABLE notes (id int)")  # migrations: yes
        for attempt in (
            "CREATE DATABASE jiujin_stolen",
            "CREATE ROLE intruder LOGIN",
            "ALTER ROLE CURRENT_USER SUPERUSER",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(attempt)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("SELECT rolpassword FROM pg_authid")


@needs_postgres
def test_the_admin_role_of_this_machine_is_seen_for_what_it_is() -> None:
    admin = postgres.admin_role(POSTGRES_ADMIN_URL)
    with psycopg.connect(POSTGRES_ADMIN_URL) as connection:
        superuser = connection.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    assert superuser is not None and admin.superuser is superuser[0]


def test_secrets_are_created_for_their_owner_only(tmp_path: Path) -> None:
    made = generate_secrets(tmp_path / "deployment", {})
    assert made and all(_private(path) for path in made)
    follow_secret("", tmp_path / "var")
    assert _private(tmp_path / "var" / "follow-secret")


def test_files_the_backend_writes_are_its_owners_alone(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a permissive shell: the backend must not depend on it
    try:
        env = {"JIUJIN_SECRETS_DIR": str(tmp_path / "secrets"), "UPLOADS_DIR": str(tmp_path / "uploads")}
        with backend_process(f"sqlite:///{tmp_path / 'jiujin.db'}", free_port(), tmp_path / "backend.log", env=env):
            pass
    finally:
        os.umask(old)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "backend.log"]
    assert any(p.name == "jiujin.db" for p in written)
    assert [p for p in written if not _private(p)] == []


def test_make_clean_removes_build_output_and_never_var() -> None:
    # Under `make test` the outer make's variables would make this one print "Entering directory" lines: not its own.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    command = ["make", "--no-print-directory", "-n", "clean"]
    dry_run = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True)
    removed = [word for line in dry_run.stdout.splitlines() for word in shlex.split(line)[2:]]
    assert ".venv" in removed  # it does clean
    assert [w for w in removed if w.removeprefix("./").split("/")[0] in ("var", "*", "", ".", "..")] == []
