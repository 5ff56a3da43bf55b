"""Real backend processes (``python -m backend``) on PostgreSQL: two replicas share one queue, restarts lose nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.processes import backend_process, free_port
from security.tokens import bearer_headers
from tests.conftest import case_body, postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


async def _take_many(bases: list[str], count: int) -> list[str]:
    async with httpx.AsyncClient(timeout=30, headers=bearer_headers("tools")) as client:
        responses = await asyncio.gather(
            *[
                client.post(f"{bases[n % len(bases)]}/api/v1/queue/tickets", json={"channel": "wechat"})
                for n in range(count)
            ]
        )
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201][:2]
    return [r.json()["number"] for r in responses]


def test_two_replicas_issue_each_number_once(pg_url: str, tmp_path: Path) -> None:
    with (
        backend_process(pg_url, free_port(), tmp_path / "a.log") as a,
        backend_process(pg_url, free_port(), tmp_path / "b.log") as b,
    ):
        numbers = asyncio.run(_take_many([a, b], 60))
        items = httpx.get(f"{a}/api/v1/items").json()
    assert sorted(numbers) == [f"A{n:03d}" for n in range(1, 61)]
    assert len(items) == 25


def test_restart_keeps_numbers_and_cases_and_masks_logs(pg_url: str, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "backend.log"
    with backend_process(pg_url, port, log) as base:
        first = asyncio.run(_take_many([base], 5))
        filed = httpx.post(
            f"{base}/api/v1/cases", json=case_body(), headers={"Idempotency-Key": "k-1"} | bearer_headers("tools")
        ).json()
        httpx.get(
            f"{base}/api/v1/cases",
            headers=bearer_headers("tools"),
            params={"id_number": "11010519491231002X", "phone": "13812345678"},
        )
    with backend_process(pg_url, port, log) as base:
        second = asyncio.run(_take_many([base], 5))
        again = httpx.post(
            f"{base}/api/v1/cases", json=case_body(), headers={"Idempotency-Key": "k-1"} | bearer_headers("tools")
        )
        bad = httpx.post(
            f"{base}/api/v1/cases", headers=bearer_headers("tools"), json=case_body(id_number="110105194912310021")
        )
    assert sorted(first + second) == [f"A{n:03d}" for n in range(1, 11)]
    assert again.status_code == 200 and again.json()["case_number"] == filed["case_number"]
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "id_number_checksum"
    text = log.read_text(errors="replace")
    assert "/api/v1/cases" in text  # the access log is on ...
    assert "11010519491231002X" not in text and "13812345678" not in text  # ... and masks personal data
