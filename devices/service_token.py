"""The "devices" service token on every request the drivers make to the backend's internal API."""

from __future__ import annotations

import httpx

from security.tokens import bearer_headers


def authorize(request: httpx.Request) -> httpx.Request:
    """httpx ``auth``: ``Authorization: Bearer`` with the "devices" token (`security.tokens`). Read for each request,
    a file of a few bytes: the backend may make it after the drivers started, and an operator who replaces it need
    not restart them."""
    request.headers.update(bearer_headers("devices"))
    return request
