"""Start the Rasa server: ``.venv-rasa/bin/python -m bot.serve [--model …] [--port …]`` (every launcher uses this).

Unlike ``rasa run --enable-api --auth-token …``:
- it binds to RASA_HOST (127.0.0.1 unless set), not to every interface;
- its HTTP API (trackers, ``PUT /model``) is on only when a token is configured (RASA_TOKEN, else the file named by
  RASA_TOKEN_FILE), and the token never appears on a command line;
- the action server's shared secret (ACTION_SERVER_TOKEN, else ``action-server-token`` in the secrets folder) is put
  in Rasa's environment, where endpoints.yml's ``action_endpoint.headers`` reads it;
- Rasa's telemetry stays off unless RASA_TELEMETRY_ENABLED says otherwise: residents' conversations stay here.
Readiness: ``GET /`` answers once the model is loaded (Rasa binds its port only then).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from security.launch import ACTION_SECRET_VARIABLE, action_server_token, listen_host, rasa_token

log = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The launcher's options; the defaults are what ``make run`` needs."""
    parser = argparse.ArgumentParser(prog="python -m bot.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/jiujin.tar.gz", help="the trained model archive")
    parser.add_argument("--port", type=int, default=int(os.environ.get("RASA_PORT") or 5005), help="RASA_PORT")
    parser.add_argument("--endpoints", default="endpoints.yml")
    parser.add_argument("--credentials", default="credentials.yml")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Serve the model on RASA_HOST:port with the REST and WeChat channels (and the API only with a token)."""
    args = parse_args(argv)
    os.umask(0o077)  # whatever Rasa writes (logs, a local tracker database) is its owner's alone
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    token = rasa_token()
    os.environ[ACTION_SECRET_VARIABLE] = action_server_token() or ""

    # Imported here, not at the top: Rasa's import pulls in TensorFlow, which takes most of a minute.
    import rasa.api
    import rasa.utils.io
    import rasa.utils.tensorflow.environment as tf_env
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(None, None, warn_only_once=True, filter_repeated_logs=True)
    rasa.utils.io.configure_colored_logging(None)
    configure_structlog(None)
    tf_env.setup_tf_environment()
    sys.path.insert(1, os.getcwd())  # the project's channels and NLU components, as `rasa run` finds them
    interface = listen_host("RASA_HOST")
    log.info("Rasa on %s:%d; HTTP API %s", interface, args.port, "on (token)" if token else "off (no RASA_TOKEN)")
    rasa.api.run(
        model=args.model,
        endpoints=args.endpoints,
        credentials=args.credentials,
        interface=interface,
        port=args.port,
        enable_api=token is not None,
        auth_token=token,
        cors=None,
    )


if __name__ == "__main__":
    main()
