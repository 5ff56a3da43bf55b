"""Run the backend: ``python -m backend`` (what ``make run`` starts)."""

from __future__ import annotations

import os

from sanic import Sanic
from sanic.worker.loader import AppLoader

from backend.app import create_app
from backend.config import Settings
from backend.logs import configure


def main() -> None:
    """Serve on BACKEND_HOST:BACKEND_PORT with BACKEND_WORKERS workers."""
    # Everything the backend writes (database, uploads, secrets, SMS outbox) is its owner's alone; workers inherit it.
    os.umask(0o077)
    configure()
    settings = Settings.from_env()
    loader = AppLoader(factory=create_app)
    app = loader.load()
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=True,
        single_process=settings.workers == 1,
        motd=False,
    )
    Sanic.serve(primary=app, app_loader=loader)


if __name__ == "__main__":
    main()
