"""Action-server settings, read from the environment (the service token: `security.tokens`)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ActionSettings:
    """Where the backend is, how long to wait for it, and how long a write may keep retrying."""

    backend_url: str = "http://127.0.0.1:8000"
    """Base URL of the intake backend (BACKEND_URL)."""
    timeout_s: float = 5.0
    """Per-request timeout in seconds; WeChat waits 5 s for a whole turn, so keep this short."""
    item_cache_s: float = 60.0
    """How long catalog items fetched from the backend are reused, in seconds."""
    write_retry_s: float = 20.0
    """Budget in seconds, all attempts included, within which a write that carries an Idempotency-Key (filing a
    case, taking a number) is retried while the backend or its database restarts (BACKEND_WRITE_RETRY_S; 0: one
    attempt). Reads are never retried. WeChat answers a turn slower than 5 s later by customer-service message
    and the voice counter waits 30 s for Rasa, so keep it well under 30."""
    write_backoff_s: float = 0.2
    """Pause before the first retry of a write, in seconds; it doubles after each attempt."""
    write_backoff_max_s: float = 2.0
    """Longest pause between two attempts of a write, in seconds."""
    backend_token: str | None = None
    """The "actions" service token the backend's internal API asks for; None: JIUJIN_ACTIONS_TOKEN or its file
    under JIUJIN_SECRETS_DIR (`security.tokens`), read when a request is made until it is there (the backend
    makes the file when it starts)."""

    @classmethod
    def from_env(cls) -> ActionSettings:
        """Settings from BACKEND_URL (or BACKEND_PORT), BACKEND_TIMEOUT_S and BACKEND_WRITE_RETRY_S."""
        port = os.environ.get("BACKEND_PORT", "8000")
        return cls(
            backend_url=os.environ.get("BACKEND_URL") or f"http://127.0.0.1:{port}",
            timeout_s=float(os.environ.get("BACKEND_TIMEOUT_S") or cls.timeout_s),
            write_retry_s=float(os.environ.get("BACKEND_WRITE_RETRY_S") or cls.write_retry_s),
        )
