"""``make chat``: talk to the running bot in the terminal over the REST channel (start it with ``make run``)."""

from __future__ import annotations

import os
import sys
import uuid

import httpx

URL = f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}/webhooks/rest/webhook"


def main() -> int:
    """Read a line, send it, print every reply; an empty line or Ctrl-D ends the chat."""
    sender = f"terminal-{uuid.uuid4().hex[:8]}"
    print("就近办助手（空行或 Ctrl-D 结束）。试试：我想办居住证")
    while True:
        try:
            text = input("您：").strip()
        except EOFError:
            return 0
        if not text:
            return 0
        try:
            replies = httpx.post(URL, json={"sender": sender, "message": text}, timeout=30).json()
        except httpx.TransportError:
            print(f"连不上 {URL}：请先在另一个终端运行 make run。", file=sys.stderr)
            return 1
        for reply in replies:
            print(f"助手：{reply.get('text', '')}")


if __name__ == "__main__":
    sys.exit(main())
