"""What one bot turn becomes on WeChat: one merged text, split only where WeChat's size limit forces it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

TEXT_LIMIT_BYTES = 2000
"""WeChat refuses texts over 2048 UTF-8 bytes; a margin keeps room for a continuation mark."""
CONTINUED = "（接下条）"


def merge(messages: Iterable[Mapping[str, Any]]) -> str:
    """The bot's messages of one turn as one text: paragraphs in order, buttons as numbered lines, images as links."""
    parts: list[str] = []
    for message in messages:
        if message.get("text"):
            parts.append(str(message["text"]).strip())
        buttons = message.get("buttons") or []
        if buttons:
            parts.append("\n".join(f"{n}. {b.get('title', '')}" for n, b in enumerate(buttons, start=1)))
        if message.get("image"):
            parts.append(str(message["image"]))
    return "\n\n".join(part for part in parts if part)


def split(text: str, limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` UTF-8 bytes: at paragraph, then line, then character ends."""
    if len(text.encode("utf-8")) <= limit:
        return [text] if text else []
    room = limit - len(CONTINUED.encode("utf-8"))
    pieces: list[str] = []
    current = ""
    for line in _units(text, room):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode("utf-8")) <= room:
            current = candidate
        else:
            pieces.append(current)
            current = line
    if current:
        pieces.append(current)
    return [piece + CONTINUED for piece in pieces[:-1]] + pieces[-1:]


def _units(text: str, room: int) -> Iterable[str]:
    """Lines of ``text``, with any line longer than ``room`` bytes cut at character boundaries."""
    for line in text.split("\n"):
        while len(line.encode("utf-8")) > room:
            cut = room
            while len(line[:cut].encode("utf-8")) > room:
                cut -= 1
            yield line[:cut]
            line = line[cut:]
        yield line
