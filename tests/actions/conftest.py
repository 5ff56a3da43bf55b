"""Action tests: trackers built from plain data, the real backend in-process behind the real client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.clients.backend import BackendClient, use_backend
from actions.config import ActionSettings
from backend.catalog.schema import Catalog
from tests.conftest import TEST_HOST, make_app, running

DOMAIN_DIR = Path(__file__).resolve().parents[2] / "bot" / "domain"


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    """The merged domain files (actions read their wording from its responses)."""
    merged: dict[str, Any] = {"responses": {}}
    for path in sorted(DOMAIN_DIR.glob("*.yml")):
        merged["responses"].update(yaml.safe_load(path.read_text(encoding="utf-8")).get("responses") or {})
    return merged


@pytest.fixture
async def backend_api(sqlite_url: str, catalog: Catalog) -> AsyncIterator[Any]:
    """A real backend on a fresh SQLite file; the actions' client talks to it in-process."""
    async with running(make_app(sqlite_url, catalog)) as api:
        transport = httpx.ASGITransport(app=api.app)
        client = BackendClient(ActionSettings(backend_url=f"http://{TEST_HOST}"), transport=transport)
        use_backend(client)
        yield api
        use_backend(None)
        await client.aclose()


def tracker(
    *,
    text: str = "",
    intent: str = "",
    entities: list[dict[str, Any]] | None = None,
    slots: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    active_loop: str | None = None,
    sender: str = "tester",
) -> Tracker:
    """A tracker as Rasa sends it: the latest message, slots, events and the active loop."""
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "entities": entities or [],
        "message_id": f"m-{abs(hash(text)) % 10_000}",
    }
    return Tracker(
        sender,
        dict(slots or {}),
        latest,
        list(events or []),
        False,
        None,
        {"name": active_loop} if active_loop else {},
        "action_listen",
    )


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    """Names of the responses the action sent, in order."""
    return [m.get("response") or f"text:{m.get('text')}" for m in dispatcher.messages]


def slots_set(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The slot values an action set (last one wins)."""
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
