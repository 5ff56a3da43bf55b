"""Action-server settings, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ActionSettings:
    """Where the backend is and how long to wait for it."""

    backend_url: str = "http://127.0.0.1:8000"
    """Base URL of the intake backend (BACKEND_URL)."""
    timeout_s: float = 5.0
    """Per-request timeout in seconds; WeChat waits 5 s for a whole turn, so keep this short."""
    item_cache_s: float = 60.0
    """How long catalog items fetched from the backend are reused, in seconds."""

    @classmethod
    def from_env(cls) -> ActionSettings:
        """Settings from BACKEND_URL and BACKEND_TIMEOUT_S."""
        port = os.environ.get("BACKEND_PORT", "8000")
        return cls(
            backend_url=os.environ.get("BACKEND_URL") or f"http://127.0.0.1:{port}",
            timeout_s=float(os.environ.get("BACKEND_TIMEOUT_S") or cls.timeout_s),
        )
