"""``bin/jiujin kiosk add|url|list|revoke NAME``: provisioning voice counters (`backend.services.counter_devices`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from backend import migrate
from backend.config import Settings
from backend.db import Database
from backend.services import counter_devices

T = TypeVar("T")


def _with_database(work: Callable[[Database], Awaitable[T]]) -> T:
    return migrate.run_upgraded(Settings.from_env().database_url, work)


def _base_url(args: argparse.Namespace) -> str:
    """Where the counter's screen reaches the counter service: --base-url, KIOSK_BASE_URL (a front such as nginx),
    else COUNTER_URL."""
    if args.base_url:
        return str(args.base_url)
    configured = os.environ.get("KIOSK_BASE_URL", "").strip()
    return configured or Settings.from_env().counter_url


def _add(args: argparse.Namespace) -> int:
    secret = counter_devices.server_secret()
    try:
        _, outcome = _with_database(lambda db: counter_devices.add(db, secret, args.name))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    said = {
        "created": "provisioned",
        "reactivated": "provisioned again (new credential)",
        "unchanged": "already active",
    }
    print(f"counter {args.name} {said[outcome]}; its screen opens: bin/jiujin kiosk url {args.name}")
    return 0


def _url(args: argparse.Namespace) -> int:
    secret = counter_devices.server_secret()
    key = _with_database(lambda db: counter_devices.current_key(db, secret, args.name))
    if key is None:
        print(f"error: no active counter {args.name!r}; run: bin/jiujin kiosk add {args.name}", file=sys.stderr)
        return 2
    print(counter_devices.screen_url(_base_url(args), key))
    return 0


def _list(args: argparse.Namespace) -> int:
    for info in _with_database(counter_devices.listing):
        state = "active" if info.active else "revoked"
        print(f"{info.name}\t{state}\tgeneration {info.generation}\tadded {info.created_at:%Y-%m-%d %H:%M}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    if not _with_database(lambda db: counter_devices.revoke(db, args.name)):
        print(f"error: no active counter {args.name!r}", file=sys.stderr)
        return 2
    print(f"counter {args.name} revoked: its screen and microphone are refused from now on")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``kiosk …`` to the command line's subcommands."""
    kiosk = commands.add_parser("kiosk", help="voice counters: provision, print a screen's URL, list, revoke")
    sub = kiosk.add_subparsers(dest="kiosk_command", required=True)
    add = sub.add_parser("add", help="provision a counter (idempotent); writes its key for the microphone side")
    add.add_argument("name", help="e.g. counter-1")
    add.set_defaults(run=_add)
    url = sub.add_parser("url", help="print the URL the counter's screen opens (it carries the credential)")
    url.add_argument("name")
    url.add_argument(
        "--base-url", help="how the screen reaches the counter service (default: KIOSK_BASE_URL, else COUNTER_URL)"
    )
    url.set_defaults(run=_url)
    sub.add_parser("list", help="every counter and whether it is active").set_defaults(run=_list)
    revoke = sub.add_parser("revoke", help="refuse a counter's credential from now on")
    revoke.add_argument("name")
    revoke.set_defaults(run=_revoke)
