"""``make run-prod``: the production configuration on this machine, against the local PostgreSQL and Redis.

Starts every part (`stack.production`, run by `stack.supervisor`), prints where to reach it, restarts a part that
dies (as systemd's Restart=on-failure would), purges conversations quiet for TRACKER_RETENTION_DAYS (default 30)
once a day, and stops everything on Ctrl-C or SIGTERM; killed outright, it takes its parts with it.
``python -m deploy --instances 1`` runs one of each part. It refuses demonstration secrets (deploy/refusals.py)
unless ``--demo`` is given; ``--generate-secrets`` makes the deployment's missing secret files (0600) and exits.
``python -m deploy systemd --out DIR`` writes systemd units of the same parts instead (deploy/systemd.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from deploy.refusals import default_secrets_folder, demo_warning, generate_secrets
from deploy.stack import PROJECT_ROOT, ProductionStack, StackConfig, check, production_stack
from deploy.systemd import DEFAULT_ENV_DIR, write_production_units
from deploy.tracker_purge import DEFAULT_RETENTION_DAYS, purge

log = logging.getLogger("deploy")

PURGE_EVERY_S = 24 * 3600.0


def supervise(stack: ProductionStack, stop: threading.Event, retention: dt.timedelta | None = None) -> None:
    """Restart any part that stopped on its own (as systemd's Restart=on-failure would), and purge old conversations
    daily (from the first pass on), until ``stop`` is set. ``retention`` None: no purge."""
    next_purge = time.monotonic()

    def purge_when_due() -> None:
        nonlocal next_purge
        if retention is None or time.monotonic() < next_purge:
            return
        next_purge = time.monotonic() + PURGE_EVERY_S
        try:
            purge(stack.tracker_database_url, retention)
        except Exception:  # the database may be restarting: tomorrow's pass catches up
            log.exception("tracker purge failed; trying again in a day")

    stack.supervisor.watch(stop, restart=True, every_pass=purge_when_due)


def config_from(args: argparse.Namespace) -> StackConfig:
    """The stack's configuration from the command line and the environment (.env included by make)."""
    # A real Official Account when WECHAT_APPID is set; otherwise development credentials and the WeChat simulator,
    # which only --demo accepts.
    real_wechat = bool(os.environ.get("WECHAT_APPID"))
    wechat = {k: v for k, v in os.environ.items() if k.startswith("WECHAT_")} if real_wechat else None
    return StackConfig(
        folder=PROJECT_ROOT / "var" / "prod",
        instances=args.instances,
        postgres_admin_url=os.environ.get("POSTGRES_ADMIN_URL", StackConfig.postgres_admin_url),
        database=os.environ.get("PROD_DATABASE", StackConfig.database),
        tracker_database=os.environ.get("PROD_TRACKER_DATABASE", StackConfig.tracker_database),
        redis_url=os.environ.get("REDIS_URL", StackConfig.redis_url),
        front_port=args.port,
        front_host=os.environ.get("FRONT_HOST", "").strip() or StackConfig.front_host,
        wechat_env=wechat,
        devices=not args.no_devices,
        secrets=default_secrets_folder(PROJECT_ROOT),
        app_role=os.environ.get("PROD_APP_ROLE", StackConfig.app_role),
        demo=args.demo,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m deploy``: 2 when refused, 0 after Ctrl-C (or after ``--generate-secrets``)."""
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=int(os.environ.get("PROD_INSTANCES", "2")))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PROD_PORT", "8080")), help="nginx's port")
    parser.add_argument("--no-devices", action="store_true", help="no printer workers and simulators")
    parser.add_argument("--demo", action="store_true", help="start with demonstration secrets (not for real data)")
    parser.add_argument("--generate-secrets", action="store_true", help="make the missing secret files, then exit")
    parser.add_argument(
        "action", nargs="?", choices=["run", "systemd"], default="run", help="run (default), or write systemd units"
    )
    parser.add_argument("--out", type=Path, help="systemd: the folder to write the units into")
    parser.add_argument("--env-dir", type=Path, default=DEFAULT_ENV_DIR, help="systemd: where the units' .env files go")
    parser.add_argument("--user", help="systemd: the user the parts run as")
    args = parser.parse_args(argv)
    os.umask(0o077)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the health checks
    config = config_from(args)
    if args.action == "systemd":
        if args.out is None:
            parser.error("systemd needs --out DIR")
        try:
            written = write_production_units(config, args.out, env_dir=args.env_dir, user=args.user)
        except ValueError as refused:
            print(f"python -m deploy systemd: {refused}", file=sys.stderr)
            return 2
        except FileNotFoundError as missing:
            print(
                f"python -m deploy systemd: a secret is missing ({missing.filename}): --generate-secrets first",
                file=sys.stderr,
            )
            return 2
        print("\n".join(f"wrote {path}" for path in written))
        return 0
    if args.generate_secrets:
        made = generate_secrets(config.secrets_folder, os.environ)
        print("\n".join(f"made {path}" for path in made) or f"every secret is there ({config.secrets_folder})")
        return 0
    problems = check(config)
    if problems and not args.demo:
        print("make run-prod refuses to start the production configuration:", file=sys.stderr)
        print("\n".join(f"  - {problem}" for problem in problems), file=sys.stderr)
        print("Fix these (see README, Security), or run `python -m deploy --demo` to try it out.", file=sys.stderr)
        return 2
    if args.demo:
        print(demo_warning(problems), file=sys.stderr, flush=True)
    days = float(os.environ.get("TRACKER_RETENTION_DAYS") or DEFAULT_RETENTION_DAYS)
    stop = threading.Event()
    # While starting (minutes: Rasa), Ctrl-C and SIGTERM interrupt the wait and what was started is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    log.info("starting %d instance(s) of each part; logs in %s", args.instances, config.folder)
    try:
        with production_stack(config) as stack:
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            print(_banner(stack, config), flush=True)
            if args.demo:
                print(demo_warning(problems), file=sys.stderr, flush=True)
            supervise(stack, stop, dt.timedelta(days=days) if days > 0 else None)
    except KeyboardInterrupt:
        pass
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _banner(stack: ProductionStack, config: StackConfig) -> str:
    front_host = config.front_host
    lines = [
        f"jiujin (production configuration) is running; logs in {config.folder}. Ctrl-C stops everything.",
        f"  front (nginx)   {stack.front}   (listening on {front_host}; every other part on 127.0.0.1 only)",
        f"  WeChat webhook  {stack.front}/webhooks/wechat/webhook",
        f"  chat (REST)     POST {stack.front}/webhooks/rest/webhook",
        f"  backend API     {stack.front}/api/v1/items (public reads); {stack.internal}/api/v1 (everything)",
        f"  console         {stack.front}/console",
        f"  parts           {', '.join(stack.parts)}",
        f"  databases       {config.database} (cases), {config.tracker_database} (conversations), as {config.app_role}",
        f"  secrets         {config.secrets_folder} (tools: JIUJIN_SECRETS_DIR={config.secrets_folder} bin/jiujin …)",
        f"  Redis           {stack.redis_url}",
    ]
    if stack.simulator:
        lines.append(f"  chat as WeChat  {stack.simulator}/   (the WeChat simulator)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
