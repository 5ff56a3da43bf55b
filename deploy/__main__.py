"""``make run-prod``: the production configuration on this machine, against the local PostgreSQL and Redis.

Starts every part, prints where to reach it, restarts a part that dies (as systemd's Restart=on-failure would)
and stops everything on Ctrl-C. ``python -m deploy --instances 1`` runs one of each part.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path

from deploy.processes import PartFailed
from deploy.stack import PROJECT_ROOT, ProductionStack, StackConfig, production_stack

log = logging.getLogger("deploy")

RESTART_PAUSE_S = 1.0


def supervise(stack: ProductionStack, stop: threading.Event) -> None:
    """Restart any part that stopped on its own, until ``stop`` is set."""
    while not stop.wait(RESTART_PAUSE_S):
        for part in stack.parts.values():
            if part.process is not None and not part.running:
                log.warning("%s stopped (exit %s): restarting it", part.name, part.process.returncode)
                part.kill()  # what is left of it (a server's workers would keep its port)
                part.start()
                try:
                    part.wait_ready()
                    log.info("%s is back", part.name)
                except PartFailed as failed:
                    log.error("%s", failed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=int(os.environ.get("PROD_INSTANCES", "2")))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PROD_PORT", "8080")), help="nginx's port")
    parser.add_argument("--no-devices", action="store_true", help="no printer workers and simulators")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the health checks (one carries Rasa's API token)
    # A real Official Account when WECHAT_APPID is set; otherwise development credentials and the WeChat simulator.
    real_wechat = bool(os.environ.get("WECHAT_APPID"))
    wechat = {k: v for k, v in os.environ.items() if k.startswith("WECHAT_")} if real_wechat else None
    config = StackConfig(
        folder=PROJECT_ROOT / "var" / "prod",
        instances=args.instances,
        postgres_admin_url=os.environ.get("POSTGRES_ADMIN_URL", StackConfig.postgres_admin_url),
        database=os.environ.get("PROD_DATABASE", StackConfig.database),
        tracker_database=os.environ.get("PROD_TRACKER_DATABASE", StackConfig.tracker_database),
        redis_url=os.environ.get("REDIS_URL", StackConfig.redis_url),
        front_port=args.port,
        wechat_env=wechat,
        devices=not args.no_devices,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("starting %d instance(s) of each part; logs in %s", args.instances, config.folder)
    with production_stack(config) as stack:
        print(_banner(stack, config.folder), flush=True)
        supervise(stack, stop)


def _banner(stack: ProductionStack, folder: Path) -> str:
    lines = [
        f"jiujin (production configuration) is running; logs in {folder}. Ctrl-C stops everything.",
        f"  front (nginx)   {stack.front}",
        f"  WeChat webhook  {stack.front}/webhooks/wechat/webhook",
        f"  chat (REST)     POST {stack.front}/webhooks/rest/webhook",
        f"  backend API     {stack.front}/api/v1/items (public reads); {stack.internal}/api/v1 (everything)",
        f"  console         {stack.front}/console",
        f"  parts           {', '.join(stack.parts)}",
        f"  databases       {stack.database_url} (cases), {stack.tracker_database_url} (conversations)",
        f"  Redis           {stack.redis_url}",
    ]
    if stack.simulator:
        lines.append(f"  chat as WeChat  {stack.simulator}/   (the WeChat simulator)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
