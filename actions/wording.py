"""Read resident-facing phrases from the domain's responses, so every word the bot says lives in bot/domain."""

from __future__ import annotations

from typing import Any


def phrase(domain: dict[str, Any], response: str, **values: Any) -> str:
    """The first text of ``response`` with ``values`` filled in (for labels inside composed messages)."""
    variants = domain.get("responses", {}).get(response) or [{"text": response}]
    return str(variants[0].get("text", response)).format(**values)
