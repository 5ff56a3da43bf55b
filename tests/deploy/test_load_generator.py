"""The load generator against the production configuration: locust runs bench/load/residents.py headless for 15 s
with three residents (two over encrypted WeChat, one over REST) who file cases; at this load no turn may fail."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg

from bench.load_bench import Options, run_level
from tests.deploy.conftest import Prod


def _filed(prod: Prod) -> tuple[int, int]:
    """Cases filed so far over WeChat by load residents (OpenIDs oLoad…), and over REST (no OpenID)."""
    with psycopg.connect(prod.stack.database_url) as db:
        row = db.execute(
            "SELECT count(*) FILTER (WHERE wechat_openid LIKE 'oLoad%'), count(*) FILTER (WHERE wechat_openid IS NULL)"
            " FROM cases"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_residents_chat_over_wechat_and_rest_file_cases_and_nothing_fails(prod: Prod, tmp_path: Path) -> None:
    prod.say(f"warm-up-{uuid.uuid4().hex[:8]}", "我想办居住证")  # the first turns after a start are slow
    wechat_before, rest_before = _filed(prod)
    options = Options(warmup_s=0, measure_s=15, think_s=(0.5, 1.0), scripts="file_*")
    level = run_level(prod.front, prod.stack.wechat_env, 3, options, tmp_path)

    assert level.wechat_turns > 0 and level.rest_turns > 0, level
    assert level.wechat_failures == 0 and level.rest_failures == 0, level.reasons
    assert level.ok and 0 < level.p50_ms <= level.max_ms < 4500
    wechat_after, rest_after = _filed(prod)
    assert wechat_after > wechat_before and rest_after > rest_before  # cases filed over WeChat and over REST
