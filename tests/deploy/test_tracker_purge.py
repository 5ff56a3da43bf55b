"""``bin/jiujin trackers purge --older-than 30d``: conversations quiet for longer than the retention period are
deleted whole from Rasa's SQL tracker store (SQLite and PostgreSQL); the others are kept whole."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from backend.config import PROJECT_ROOT
from deploy.__main__ import supervise
from deploy.stack import ProductionStack, StackConfig
from deploy.tracker_purge import parse_age, purge
from harness.databases import temporary_postgres_database
from stack.parts import Stack
from stack.supervisor import Supervisor
from tests.conftest import POSTGRES_ADMIN_URL, SKIP_POSTGRES
from tests.waiting import wait_for

DAY = 86400.0
NOW = time.time()


def _store(url: str) -> sa.Engine:
    """A tracker store with Rasa's ``events`` table: one quiet conversation, one that spoke again yesterday after
    old turns, one of today."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as db:
        db.execute(
            sa.text(
                "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255)"
                " NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"
            )
        )
        rows = [
            ("quiet", 45), ("quiet", 40), ("quiet", 31),
            ("back-again", 60), ("back-again", 1),
            ("today", 0.01),
        ]  # fmt: skip
        for i, (sender, days_ago) in enumerate(rows, 1):
            db.execute(
                sa.text(
                    "INSERT INTO events (id, sender_id, type_name, timestamp, data) VALUES (:i, :s, 'user', :t, '{}')"
                ),
                {"i": i, "s": sender, "t": NOW - days_ago * DAY},
            )
    return engine


def _senders(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as db:
        return dict(db.execute(sa.text("SELECT sender_id, count(*) FROM events GROUP BY sender_id")).all())  # type: ignore[arg-type]


def test_conversations_quiet_for_longer_are_deleted_whole(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trackers.db'}"
    engine = _store(url)
    purged = purge(url, dt.timedelta(days=30), now=NOW)
    assert (purged.conversations, purged.events) == (1, 3)
    assert _senders(engine) == {"back-again": 2, "today": 1}  # a conversation is never cut in the middle
    assert purge(url, dt.timedelta(days=30), now=NOW).conversations == 0


@pytest.mark.skipif(SKIP_POSTGRES, reason="JIUJIN_SKIP_POSTGRES=1")
def test_the_production_store_on_postgresql() -> None:
    with temporary_postgres_database(POSTGRES_ADMIN_URL) as url:
        engine = _store(url)
        assert purge(url, parse_age("12h"), now=NOW).conversations == 2
        assert _senders(engine) == {"today": 1}
        engine.dispose()


def test_a_store_without_conversations_yet_has_nothing_to_purge(tmp_path: Path) -> None:
    assert purge(f"sqlite:///{tmp_path / 'empty.db'}", dt.timedelta(days=30)).conversations == 0


def test_ages_are_read_or_refused() -> None:
    assert parse_age("30d") == dt.timedelta(days=30)
    assert parse_age("12h") == dt.timedelta(hours=12) and parse_age("90m") == dt.timedelta(minutes=90)
    assert parse_age("7") == dt.timedelta(days=7)
    for bad in ("", "0d", "-3d", "30 days", "1w"):
        with pytest.raises(ValueError, match="cannot read the age"):
            parse_age(bad)


def _jiujin(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "TRACKER_DATABASE_URL"}
    command = [str(PROJECT_ROOT / "bin" / "jiujin"), *argv]
    return subprocess.run(command, env=clean | env, capture_output=True, text=True, timeout=120)


def test_the_command_line_purges_and_says_how_many(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trackers.db'}"
    engine = _store(url)
    done = _jiujin("trackers", "purge", "--older-than", "30d", env={"TRACKER_DATABASE_URL": url})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1 conversations (3 events) older than 30d deleted"
    assert set(_senders(engine)) == {"back-again", "today"}

    in_memory = _jiujin("trackers", "purge", "--older-than", "30d", env={})  # make run: Rasa keeps them in memory
    assert in_memory.returncode == 0 and "nothing stored" in in_memory.stdout
    refused = _jiujin("trackers", "purge", "--older-than", "soon", env={"TRACKER_DATABASE_URL": url})
    assert refused.returncode == 2 and "cannot read the age" in refused.stderr


def test_the_production_supervisor_purges_from_its_first_pass(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trackers.db'}"
    engine = _store(url)
    no_parts = Supervisor(Stack("production", (), tmp_path))  # only the daily purge has work
    stack = ProductionStack(StackConfig(folder=tmp_path), no_parts, "", "", "", {}, "", "", url, "", None, None)
    stop = threading.Event()
    supervisor = threading.Thread(target=supervise, args=(stack, stop, dt.timedelta(days=30)), daemon=True)
    supervisor.start()
    try:
        wait_for(lambda: "quiet" not in _senders(engine), 30, "the first daily purge")
    finally:
        stop.set()
        supervisor.join(timeout=10)
    assert set(_senders(engine)) == {"back-again", "today"}
