"""The counter service's client of the backend's internal API: whose credential a request carries, and the record
of each resident session that ended.

The backend owns the counters as devices (``bin/jiujin kiosk add|url|list|revoke``, the ``counter_devices`` table,
the audit log) and derives their credentials from its secret, so it is the one that checks a credential: the counter
service asks it for every request of a screen or a microphone (a revoked counter is refused from its next request)
and says so when the backend cannot be reached. It calls as the ``devices`` service (`security.tokens`): a counter
is a device of the hall.
"""

from __future__ import annotations

import datetime as dt
import logging

import httpx

from counter.sessions import Ended
from security.tokens import bearer_headers

log = logging.getLogger(__name__)

SERVICE = "devices"
"""The service token the counter service presents to the backend."""
TIMEOUT_S = 5.0


class BackendUnavailable(RuntimeError):
    """The backend did not answer (or refused the counter service's own token)."""


class BackendApi:
    """The backend at ``base_url``, asked over ``http``."""

    def __init__(self, base_url: str, http: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http

    async def counter_of(self, key: str | None) -> str | None:
        """The name of the active counter whose credential is ``key``; None for anything else. Raises
        `BackendUnavailable` when the backend cannot say."""
        presented = (key or "").strip()
        if not presented:
            return None
        try:
            response = await self.http.post(
                f"{self.base_url}/api/v1/counters/authenticate",
                json={"key": presented[:200]},
                headers=bearer_headers(SERVICE),
                timeout=TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"the backend did not answer ({type(exc).__name__})") from None
        if response.status_code == 403:
            return None
        if response.status_code != 200:
            raise BackendUnavailable(f"the backend answered HTTP {response.status_code} to a credential check")
        return str(response.json()["counter"])

    async def record_ended(self, ended: list[Ended]) -> None:
        """Tell the backend about sessions that ended (best effort: the record is for statistics, and the resident
        has gone either way)."""
        for each in ended:
            body = {
                "started_at": each.started_at.astimezone(dt.UTC).isoformat(),
                "reason": each.reason,
                "turns": each.turns,
            }
            try:
                response = await self.http.post(
                    f"{self.base_url}/api/v1/counters/{each.counter}/sessions",
                    json=body,
                    headers=bearer_headers(SERVICE),
                    timeout=TIMEOUT_S,
                )
                response.raise_for_status()
            except httpx.HTTPError as exc:
                log.warning("counter %s: an ended session was not recorded (%s)", each.counter, type(exc).__name__)
