"""Run the counter service: ``python -m counter`` (what ``make run`` starts), on COUNTER_HOST:COUNTER_PORT."""

from __future__ import annotations

import logging
import os

from counter.app import create_app
from counter.config import CounterSettings


def main() -> None:
    """Serve in one process: a counter's resident sessions live in it, so its screen and microphone share them."""
    os.umask(0o077)
    _log_to_console("counter", "voice")
    settings = CounterSettings()
    app = create_app(settings)
    app.run(host=settings.host, port=settings.port, access_log=True, single_process=True, motd=False)


def _log_to_console(*names: str) -> None:
    """The project's own loggers on the console at INFO (Sanic keeps its own handlers). Nothing personal is logged
    here: turns and recognitions are logged by their sizes only."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False


if __name__ == "__main__":
    main()
