"""``bin/jiujin``: staff accounts with argon2 hashes, migrations, clear errors."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

from argon2 import PasswordHasher

ROOT = Path(__file__).resolve().parents[1]


def jiujin(*args: str, stdin: str = "", db: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"DATABASE_URL": f"sqlite:///{db}"}
    return subprocess.run(
        [str(ROOT / "bin" / "jiujin"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_staff_add_stores_an_argon2_hash(sqlite_url: str) -> None:
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    done = jiujin(
        "staff",
        "add",
        "yibao1",
        "--role",
        "department",
        "--department",
        "医保",
        "--password-stdin",
        stdin="correct horse battery\n",
        db=db,
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as connection:
        role, department, password_hash = connection.execute(
            "SELECT role, department, password_hash FROM staff_users WHERE username = 'yibao1'"
        ).fetchone()
        actions = [row[0] for row in connection.execute("SELECT action FROM audit_log")]
    assert (role, department) == ("department", "医保")
    assert password_hash.startswith("$argon2id$") and "correct horse" not in password_hash
    assert PasswordHasher().verify(password_hash, "correct horse battery")
    assert actions == ["staff.create"]


def test_staff_add_refuses_bad_input(tmp_path: Path) -> None:
    db = tmp_path / "jiujin.db"
    no_department = jiujin("staff", "add", "x", "--role", "department", "--password-stdin", stdin="longenough\n", db=db)
    assert no_department.returncode == 2 and "--department" in no_department.stderr
    short = jiujin("staff", "add", "x", "--role", "admin", "--password-stdin", stdin="short\n", db=db)
    assert short.returncode == 2 and "8 characters" in short.stderr
    bad_role = jiujin("staff", "add", "x", "--role", "boss", "--password-stdin", stdin="longenough\n", db=db)
    assert bad_role.returncode == 2


def test_db_upgrade(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    done = jiujin("db", "upgrade", db=db)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {
        "cases",
        "residents",
        "queue_tickets",
        "print_jobs",
        "staff_users",
        "audit_log",
        "alembic_version",
    } <= tables
