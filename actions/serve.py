"""Start the action server: ``.venv/bin/python -m actions.serve [--port …]`` (every launcher uses this).

rasa_sdk's own app (``rasa_sdk.endpoint.create_app``) with the project's actions, plus what ``python -m rasa_sdk``
lacks: it binds to ACTION_HOST (127.0.0.1 unless set, where rasa_sdk binds to every interface) and ``POST /webhook``
answers only a caller presenting ``Authorization: Bearer <shared secret>`` (401 otherwise). The secret is
ACTION_SERVER_TOKEN, else the file ``action-server-token`` in the secrets folder, made when missing (mode 0600); Rasa
sends it (endpoints.yml). ``GET /health`` stays open for the launchers' readiness checks: it tells nothing.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Request, Sanic, response
from sanic.response import HTTPResponse

from security.launch import action_server_token, listen_host

log = logging.getLogger(__name__)

GUARDED_PATHS = frozenset({"/webhook", "/actions"})
"""Running an action reads and writes residents' cases; the list of actions maps what there is to try."""


def build_app(secret: str, actions_package: str = "actions") -> Sanic:
    """rasa_sdk's app for ``actions_package`` whose webhook (and action list) demand ``secret`` as a bearer token."""
    executor = ActionExecutor()
    executor.register_package(actions_package)
    app = create_app(executor, cors_origins=None)  # called by Rasa, never by a browser: no CORS
    expected = f"Bearer {secret}".encode()

    @app.on_request
    async def require_secret(request: Request) -> HTTPResponse | None:
        """401 for a guarded path without the shared secret (compared in constant time)."""
        if request.path not in GUARDED_PATHS:
            return None
        presented = (request.headers.get("authorization") or "").encode()
        if hmac.compare_digest(presented, expected):
            return None
        log.warning("refused %s %s from %s: no or wrong action-server secret", request.method, request.path, request.ip)
        return response.json({"error": "unauthorized"}, status=401)

    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the project's actions on ACTION_HOST:port, behind the shared secret."""
    parser = argparse.ArgumentParser(prog="python -m actions.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_PORT") or 5055), help="ACTION_PORT")
    args = parser.parse_args(argv)
    os.umask(0o077)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    secret = action_server_token()
    assert secret is not None  # made when missing
    host = listen_host("ACTION_HOST")
    app = build_app(secret)
    log.info("action server on %s:%d (webhook needs the shared secret)", host, args.port)
    app.run(host=host, port=args.port, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
