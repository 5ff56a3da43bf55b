"""The one client of the intake backend's REST API used by every action.

Every request carries the "actions" service token (`security.tokens`; the audit log names this service, with
``X-Actor: bot`` after it). Errors come back as ``BackendError`` with the backend's machine code and Chinese message,
so an action can tell the resident what was wrong; a backend that cannot be reached raises ``BackendUnavailable``.

Writes that carry an Idempotency-Key (filing a case, taking a number) are retried with the same key while the
backend, a replica behind nginx or PostgreSQL restarts, within ``write_retry_s``: if an attempt was committed but
its answer was lost, the backend answers the retry with what it stored then, so nothing is filed twice. Reads are
not retried: they run on every turn, and WeChat expects a turn to be answered within 5 s.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_before_delay,
    wait_exponential,
    wait_random,
)

from actions.config import ActionSettings
from security.tokens import service_token

logger = logging.getLogger(__name__)


RETRIED_STATUSES = frozenset({502, 503, 504})
"""Answers of a backend that is restarting: nginx without a replica (502, 504), a database down (503)."""
_TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
"""Transport errors of a server that went away or is too slow (not a wrong URL or a bad request of ours)."""


def _log_retry(path: str, state: RetryCallState) -> None:
    """One line per retry of a POST; the key, the body and the resident stay out: path, attempt and cause do."""
    failure = state.outcome.exception() if state.outcome else None
    logger.warning(
        "backend unavailable for POST %s: %s (attempt %d, retrying in %.3f s)",
        path,
        getattr(failure, "reason", type(failure).__name__),
        state.attempt_number,
        state.upcoming_sleep,
    )


class BackendUnavailable(RuntimeError):
    """The backend did not answer (down, restarting, or too slow).

    ``reason`` is short and free of personal data (an httpx error name or the status); ``transient`` is False for
    an answer that the same request would get again (a 500).
    """

    def __init__(self, reason: str, *, transient: bool = True) -> None:
        super().__init__(f"backend unavailable: {reason}")
        self.reason = reason
        self.transient = transient


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
            auth=self._authorize,
        )
        self._token = self.settings.backend_token
        self._items: dict[str, tuple[float, dict[str, Any]]] = {}

    def _authorize(self, request: httpx.Request) -> httpx.Request:
        """Every request carries the "actions" service token (the audit log names this service as the actor)."""
        if self._token is None:  # until the backend has made it: a missing token gets a 401, which says so
            self._token = service_token("actions")
        if self._token:
            request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    async def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request: the parsed body, BackendError for a 4xx, BackendUnavailable otherwise."""
        try:
            response = await self._http.request(method, f"/api/v1{path}", **kwargs)
        except httpx.TransportError as exc:
            raise BackendUnavailable(type(exc).__name__, transient=isinstance(exc, _TRANSIENT_ERRORS)) from exc
        if response.status_code == 204:
            return None
        if response.status_code >= 500:
            status = response.status_code
            raise BackendUnavailable(f"HTTP {status}", transient=status in RETRIED_STATUSES)
        body = response.json()
        if response.status_code >= 400:
            error = body.get("error", {})
            raise BackendError(
                response.status_code, error.get("code", "error"), error.get("message", ""), error.get("details")
            )
        return body

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """A read: one attempt (it runs on every turn, which WeChat wants answered within 5 s)."""
        try:
            return await self._send(method, path, **kwargs)
        except BackendUnavailable as exc:
            logger.warning("backend unavailable for %s %s: %s", method, path, exc.reason)
            raise

    async def _write(self, path: str, body: dict[str, Any], idempotency_key: str) -> Any:
        """POST with an Idempotency-Key, retried with the same key while the backend restarts (`_patiently`)."""
        return await self._patiently(path, body, {"Idempotency-Key": idempotency_key})

    async def _patiently(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        """POST, retried while the backend restarts: for writes (with their key) and for the reads a write needs.

        Pauses start at ``write_backoff_s`` and double up to ``write_backoff_max_s``, each plus up to
        ``write_backoff_s`` at random, so that the action servers that lost the backend together do not all come
        back in the same instant; a retry starts only when its pause ends within ``write_retry_s`` of the first
        attempt, and its timeout is cut to what is left of that budget. 4xx answers and 500s (the same request
        would get them again) are never retried.
        """
        settings = self.settings
        budget = max(settings.write_retry_s, 0.0)
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, BackendUnavailable) and exc.transient),
            wait=wait_exponential(multiplier=settings.write_backoff_s, max=settings.write_backoff_max_s)
            + wait_random(0, settings.write_backoff_s),
            stop=stop_before_delay(budget),
            before_sleep=lambda state: _log_retry(path, state),
            reraise=True,
        )
        started = time.monotonic()

        async def attempt() -> Any:
            extra: dict[str, Any] = {}  # the first attempt has the client's timeout
            if retrying.statistics["attempt_number"] > 1:
                # The last attempt ends with the budget: the resident is told within write_retry_s (plus 0.1 s).
                extra["timeout"] = max(min(settings.timeout_s, started + budget - time.monotonic()), 0.1)
            return await self._send("POST", path, json=body, headers=headers or {}, **extra)

        try:
            return await retrying(attempt)
        except BackendUnavailable as exc:
            attempts = retrying.statistics["attempt_number"]
            logger.warning("backend unavailable for POST %s: %s (attempt %d, giving up)", path, exc.reason, attempts)
            raise

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

    async def keep_numbers(self, channel: str, sender: str, values: list[str]) -> list[str]:
        """Keep a conversation's numbers in the backend's vault (for its TTL, 2 h); their masked forms, in order."""
        body = {"channel": channel, "sender": sender, "values": values}
        return (await self._call("POST", "/vault/deposits", json=body))["masked"]

    async def kept_numbers(
        self, channel: str, sender: str, masked: list[str], *, patient: bool = False
    ) -> dict[str, str]:
        """The numbers the conversation's channel kept in the vault under ``masked`` (expired ones left out).

        ``patient``: retried while the backend restarts, as the filing that needs them is (one attempt otherwise:
        validating an answer runs within WeChat's 5 s)."""
        body = {"channel": channel, "sender": sender, "masked": masked}
        if patient:
            return (await self._patiently("/vault/lookups", body))["values"]
        return (await self._call("POST", "/vault/lookups", json=body))["values"]

    async def checklist(self, item_id: str, conditions: list[str], received: list[str]) -> dict[str, Any]:
        """The personal checklist: received, missing, looked up."""
        return await self._call(
            "POST", f"/items/{item_id}/checklist", json={"conditions": conditions, "received": received}
        )

    async def file_case(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """File a case; the same key returns the case filed the first time (so it is retried while restarting)."""
        return await self._write("/cases", body, idempotency_key)

    async def lookup_cases(
        self, case_number: str | None, *, code: str | None = None, wechat_openid: str | None = None
    ) -> list[dict[str, Any]]:
        """The asker's own cases (backend.services.case_access): one by number with ``code`` (the phone's last four
        digits or the receipt's 查询码) or from the follower's WeChat; without a number, the follower's latest.
        BackendError 404 ``case_not_found`` alike for an unknown case, a wrong code and a locked case."""
        body = {"case_number": case_number, "code": code, "wechat_openid": wechat_openid}
        found = await self._call("POST", "/cases/lookup", json={k: v for k, v in body.items() if v})
        return found["cases"]

    async def take_ticket(
        self,
        channel: str,
        idempotency_key: str,
        wechat_openid: str | None = None,
        sender: str | None = None,
        *,
        id_number: str | None = None,
        priority_reason: str | None = None,
    ) -> dict[str, Any]:
        """Take a queue number (with the follower's OpenID, WeChat tells them when their turn is near). The backend
        decides the category from the resident's ``id_number`` and a ``priority_reason`` they stated, and answers
        with it (``category``, ``priority_reason``). ``sender`` names the resident's conversation, which the backend
        caps (BackendError 429 ``ticket_waiting`` with ``details.number``, or ``ticket_daily_limit``)."""
        body = {"channel": channel}
        for name, value in (
            ("wechat_openid", wechat_openid),
            ("sender", sender),
            ("id_number", id_number),
            ("priority_reason", priority_reason),
        ):
            if value:
                body[name] = value
        return await self._write("/queue/tickets", body, idempotency_key)

    async def follow_ticket(self, service_day: str, number: str, wechat_openid: str, signature: str) -> dict[str, Any]:
        """Link a queue ticket (day as YYYY-MM-DD) to the follower who scanned its QR code (``signature``: the one its
        scene carries), who is then told when their turn is near; the ticket with ``ahead``. BackendError: 403 a
        scene the backend did not sign, 404 unknown, 409 another day's, no longer waiting (``details``: status,
        window) or followed by someone else (``ticket_followed``). One attempt: linking again is harmless, and
        WeChat waits 5 s."""
        body = {"wechat_openid": wechat_openid, "signature": signature}
        return await self._call("POST", f"/queue/tickets/{service_day}/{number}/follower", json=body)

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
