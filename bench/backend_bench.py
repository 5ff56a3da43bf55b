"""Backend figures: case filing, item search and ticket taking, on SQLite and on PostgreSQL, one run."""

from __future__ import annotations

import asyncio
import os
import tempfile
from contextlib import ExitStack
from pathlib import Path

import httpx

from bench.closed_loop import Figures, drive
from harness.databases import DEFAULT_POSTGRES_ADMIN_URL, temporary_postgres_database
from harness.ids import resident_id_number
from harness.processes import backend_process, free_port
from security.tokens import bearer_headers

QUERIES = [
    "老年卡",
    "我想办残疾证",
    "居住证到期了",
    "生孩子要登记",
    "医保卡丢了",
    "失业了怎么办",
    "高龄补贴",
    "低保",
    "老人优待证",
    "公交卡老人",
    "护照",
    "慢性病",
    "独生子女证",
    "暂住证",
    "养老保险认证",
]
CONCURRENCY = 16


def _resident_id(n: int) -> str:
    return resident_id_number("330106", f"{1940 + n % 20}0101", f"{n % 1000:03d}")


def _file_case(base: str):
    token = bearer_headers("tools")  # made by the backend as it started

    async def call(client: httpx.AsyncClient, n: int) -> httpx.Response:
        body = {
            "item_id": "elderly_preferential_card",
            "resident": {"id_number": _resident_id(n), "name": "测试居民", "phone": "13812345678"},
            "channel": "wechat",
            "materials_received": ["id_card"],
        }
        return await client.post(f"{base}/api/v1/cases", json=body, headers={"Idempotency-Key": f"bench-{n}"} | token)

    return call


def _search(base: str):
    async def call(client: httpx.AsyncClient, n: int) -> httpx.Response:
        return await client.get(f"{base}/api/v1/items/search", params={"q": QUERIES[n % len(QUERIES)]})

    return call


def _take(base: str):
    token = bearer_headers("tools")

    async def call(client: httpx.AsyncClient, n: int) -> httpx.Response:
        return await client.post(f"{base}/api/v1/queue/tickets", json={"channel": "wechat"}, headers=token)

    return call


async def _measure(base: str, scale: int) -> dict[str, Figures]:
    await drive(_search(base), requests=50, concurrency=4, expect={200})  # warm up
    return {
        "case filing": await drive(_file_case(base), requests=30 * scale, concurrency=CONCURRENCY, expect={201}),
        "item search": await drive(_search(base), requests=150 * scale, concurrency=CONCURRENCY, expect={200}),
        "take number": await drive(_take(base), requests=30 * scale, concurrency=CONCURRENCY, expect={201}),
    }


def run(scale: int) -> dict[str, dict[str, Figures]]:
    """Start one backend per database, drive the same load at each, return the figures by database."""
    results: dict[str, dict[str, Figures]] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        urls = {"SQLite": f"sqlite:///{Path(tmp) / 'bench.db'}"}
        urls["PostgreSQL"] = stack.enter_context(
            temporary_postgres_database(os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_ADMIN_URL))
        )
        for label, url in urls.items():
            with backend_process(url, free_port(), Path(tmp) / f"{label}.log") as base:
                results[label] = asyncio.run(_measure(base, scale))
    return results


def report(results: dict[str, dict[str, Figures]]) -> str:
    """A plain table of the figures, with PostgreSQL's rate as a ratio of SQLite's."""
    lines = [
        f"backend (one worker process, {CONCURRENCY} requests in flight)",
        f"{'operation':<13} {'database':<11} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'errors':>6}",
    ]
    for operation in next(iter(results.values())):
        for label, figures in results.items():
            f = figures[operation]
            lines.append(
                f"{operation:<13} {label:<11} {f.requests:>8} {f.rate:>8.1f} {f.p50_ms:>8.1f} "
                f"{f.p95_ms:>8.1f} {f.errors:>6}"
            )
        if {"SQLite", "PostgreSQL"} <= set(results):
            ratio = results["PostgreSQL"][operation].rate / results["SQLite"][operation].rate
            lines.append(f"{'':<13} PostgreSQL/SQLite rate ratio: {ratio:.2f}")
    return "\n".join(lines)
