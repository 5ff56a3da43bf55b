"""The backend's layers, read from the source (nothing is imported): the console's pages parse a form, call one
service and render, opening no database transaction or query of their own; the services (and the notices written
in their transactions) take their own command types and never reach the REST API's modules, directly or through
another module."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "backend" / "console"
SERVICE_PACKAGES = ("backend.services", "backend.notices")
DATABASE_CALLS = frozenset(
    {"read", "write", "begin", "begin_nested", "commit", "rollback", "flush", "execute", "scalars"}
)
"""Methods of `backend.db.Database` and SQLAlchemy sessions that open, use or end a transaction."""


def database_work(source: str) -> list[str]:
    """Where ``source`` opens a transaction or queries the database itself: SQLAlchemy imports, and calls of
    `DATABASE_CALLS` methods (``db.write()``, ``session.execute(...)`` …), as ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] == "sqlalchemy"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            found.append(f"{node.lineno}: from {node.module} import …")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in DATABASE_CALLS:
            found.append(f"{node.lineno}: .{node.func.attr}()")
    return found


def test_the_check_sees_a_transaction_and_a_query() -> None:
    page = (
        "from sqlalchemy import select\n"
        "async def handler(request):\n"
        "    async with request.app.ctx.db.write() as session:\n"
        "        await session.execute(select(1))\n"
    )
    assert database_work(page) == ["1: from sqlalchemy import …", "3: .write()", "4: .execute()"]
    assert database_work("async def handler(request):\n    return await service.save(request.app.ctx.db)\n") == []


@pytest.mark.parametrize("module", sorted(CONSOLE.glob("*.py")), ids=lambda path: path.name)
def test_console_pages_leave_the_database_to_the_services(module: Path) -> None:
    assert database_work(module.read_text(encoding="utf-8")) == [], f"{module.relative_to(ROOT)} works the database"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("backend", "wechat", "vocabulary", "security", cache_dir=None)


@pytest.mark.parametrize("services", SERVICE_PACKAGES)
def test_services_never_reach_the_rest_api(graph: grimp.ImportGraph, services: str) -> None:
    chains = graph.find_shortest_chains(importer=services, imported="backend.api", as_packages=True)
    assert not chains, "\n".join(" -> ".join(chain) for chain in sorted(chains))


def test_the_graph_check_sees_an_import(graph: grimp.ImportGraph) -> None:
    assert graph.find_shortest_chains(importer="backend.app", imported="backend.api", as_packages=True)
