"""WeChat OpenIDs where people read them (log lines, audit entries, staff's API answers): masked to the first four
characters. Here, not in `backend.identity`, because the WeChat package also runs in Rasa's environment, which lacks
the backend's dependencies; the backend imports it from here."""

from __future__ import annotations


def mask_openid(openid: str | None) -> str | None:
    """Keep the first 4 characters of a WeChat OpenID (oAbC****): enough to tell followers apart in a log."""
    if not openid:
        return openid
    return f"{openid[:4]}****" if len(openid) > 4 else "****"
