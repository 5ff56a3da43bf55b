"""The one client of the intake backend's REST API used by every action.

Errors come back as ``BackendError`` with the backend's machine code and Chinese message, so an action can
tell the resident what was wrong; a backend that cannot be reached raises ``BackendUnavailable``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from actions.config import ActionSettings

logger = logging.getLogger(__name__)


class BackendUnavailable(RuntimeError):
    """The backend did not answer (down, restarting, or too slow)."""


class BackendError(RuntimeError):
    """The backend refused the request; ``code`` and ``message`` come from its error body."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class BackendClient:
    """Async client; one per action-server process, created lazily (nothing happens at import)."""

    def __init__(self, settings: ActionSettings | None = None, transport: httpx.AsyncBaseTransport | None = None):
        self.settings = settings or ActionSettings.from_env()
        self._http = httpx.AsyncClient(
            base_url=self.settings.backend_url,
            timeout=self.settings.timeout_s,
            transport=transport,
            headers={"X-Actor": "bot"},
        )
        self._items: dict[str, tuple[float, dict[str, Any]]] = {}

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, f"/api/v1{path}", **kwargs)
        except httpx.TransportError as exc:
            logger.warning("backend unavailable for %s %s: %s", method, path, type(exc).__name__)
            raise BackendUnavailable(str(exc)) from exc
        if response.status_code == 204:
            return None
        if response.status_code >= 500:
            raise BackendUnavailable(f"backend answered {response.status_code}")
        body = response.json()
        if response.status_code >= 400:
            error = body.get("error", {})
            raise BackendError(
                response.status_code, error.get("code", "error"), error.get("message", ""), error.get("details")
            )
        return body

    async def item(self, item_id: str) -> dict[str, Any]:
        """One catalog item (cached for ``item_cache_s``)."""
        cached = self._items.get(item_id)
        if cached and time.monotonic() - cached[0] < self.settings.item_cache_s:
            return cached[1]
        item = await self._call("GET", f"/items/{item_id}")
        self._items[item_id] = (time.monotonic(), item)
        return item

    async def items(self, department: str | None = None) -> list[dict[str, Any]]:
        """Every item, or one department's, in catalog order."""
        return await self._call("GET", "/items", params={"department": department} if department else None)

    async def eligibility(self, item_id: str, id_number: str | None, answers: dict[str, bool]) -> dict[str, Any]:
        """The pre-check of an item for an ID number and residence answers (422 for a bad ID number)."""
        return await self._call(
            "POST", f"/items/{item_id}/eligibility", json={"id_number": id_number, "answers": answers}
        )

    async def check_id_number(self, id_number: str) -> dict[str, Any]:
        """The normalised number with age and sex; BackendError with the reason in Chinese when invalid."""
        return await self._call("POST", "/identity/id-number", json={"id_number": id_number[:32]})

    async def checklist(self, item_id: str, conditions: list[str], received: list[str]) -> dict[str, Any]:
        """The personal checklist: received, missing, looked up."""
        return await self._call(
            "POST", f"/items/{item_id}/checklist", json={"conditions": conditions, "received": received}
        )

    async def file_case(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """File a case; the same key returns the case filed the first time."""
        return await self._call("POST", "/cases", json=body, headers={"Idempotency-Key": idempotency_key})

    async def case(self, case_number: str) -> dict[str, Any]:
        """One case by number."""
        return await self._call("GET", f"/cases/{case_number}")

    async def cases_of(self, id_number: str) -> list[dict[str, Any]]:
        """A resident's cases, newest first."""
        return (await self._call("GET", "/cases", params={"id_number": id_number, "limit": 5}))["cases"]

    async def take_ticket(
        self, category: str, channel: str, idempotency_key: str, wechat_openid: str | None = None
    ) -> dict[str, Any]:
        """Take a queue number (with the follower's OpenID, WeChat tells them when their turn is near)."""
        body = {"category": category, "channel": channel}
        if wechat_openid:
            body["wechat_openid"] = wechat_openid
        return await self._call("POST", "/queue/tickets", json=body, headers={"Idempotency-Key": idempotency_key})

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()


_client: BackendClient | None = None


def backend() -> BackendClient:
    """The process-wide client, created on first use."""
    global _client
    if _client is None:
        _client = BackendClient()
    return _client


def use_backend(client: BackendClient | None) -> None:
    """Replace the process-wide client (tests point it at an in-process backend)."""
    global _client
    _client = client
