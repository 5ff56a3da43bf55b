"""Run the WeChat simulator: ``python -m simulators.wechat --port 5070 --webhook URL [--record FILE]``.

Settings (token, AppID, AES key, AppSecret) come from the same environment variables the webhook reads, so
both sides agree. Point the project's outbound client at ``http://127.0.0.1:<port>/cgi-bin/`` through
WECHAT_API_BASE_URL and open ``http://127.0.0.1:<port>/`` to chat.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from simulators.wechat.server import create_app
from wechat.settings import WeChatSettings

DEFAULT_WEBHOOK = "http://127.0.0.1:5005/webhooks/wechat/webhook"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.wechat", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5070)
    parser.add_argument("--webhook", default=DEFAULT_WEBHOOK, help=f"the webhook to post to ({DEFAULT_WEBHOOK})")
    parser.add_argument("--record", type=Path, help="append every API call as a JSON line to this file")
    args = parser.parse_args(argv)
    # Sanic logs through its own handlers; only the simulator's loggers need one (a root handler doubles Sanic's).
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("wechat").addHandler(handler)
    logging.getLogger("wechat").setLevel(logging.INFO)
    app = create_app(WeChatSettings.from_env(), args.webhook, args.record)
    # One process on purpose: the stand-in's tokens, quotas and record live in this process's memory.
    app.run(host=args.host, port=args.port, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
