"""``bin/jiujin``: the project's command line (database, staff accounts, the WeChat menu; more join as parts land)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from sqlalchemy import select

from backend import kiosk_cli, migrate
from backend.catalog.schema import Department
from backend.config import Settings
from backend.console.sessions import MIN_PASSWORD_LENGTH, hash_password
from backend.db import Database
from backend.models import StaffRole, StaffUser
from backend.services import audit
from wechat import menu
from wechat.settings import WeChatSettings


def _db_upgrade(args: argparse.Namespace) -> int:
    migrate.upgrade(Settings.from_env().database_url)
    print("database is up to date")
    return 0


async def _add_staff(db: Database, username: str, role: StaffRole, department: str | None, password: str) -> None:
    async with db.write() as session:
        existing = await session.execute(select(StaffUser).where(StaffUser.username == username))
        user = existing.scalar_one_or_none()
        password_hash = hash_password(password)
        if user is None:
            session.add(StaffUser(username=username, role=role, department=department, password_hash=password_hash))
            action = "staff.create"
        else:
            user.role, user.department, user.password_hash, user.active = role, department, password_hash, True
            action = "staff.update"
        audit.record(session, "cli", action, "staff", username, role=role.value, department=department)


def _staff_add(args: argparse.Namespace) -> int:
    role = StaffRole(args.role)
    if role is StaffRole.DEPARTMENT and not args.department:
        print("error: --department is required for the department role", file=sys.stderr)
        return 2
    if not args.password_stdin:
        print("error: give the password on standard input with --password-stdin", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD_LENGTH:
        print(f"error: the password needs at least {MIN_PASSWORD_LENGTH} characters", file=sys.stderr)
        return 2
    database_url = Settings.from_env().database_url
    migrate.run_upgraded(database_url, lambda db: _add_staff(db, args.username, role, args.department, password))
    print(f"staff account {args.username} ({role.value}) saved")
    return 0


def _wechat_menu(args: argparse.Namespace) -> int:
    if args.action == "show":
        print(json.dumps(menu.MENU, ensure_ascii=False, indent=2))
        return 0
    try:
        asyncio.run(menu.publish(WeChatSettings.from_env()))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("WeChat menu published")
    return 0


def _trackers_purge(args: argparse.Namespace) -> int:
    import os

    from deploy.tracker_purge import parse_age, purge

    try:
        age = parse_age(args.older_than)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    url = os.environ.get("TRACKER_DATABASE_URL", "").strip()
    if not url:
        print("nothing stored: Rasa keeps conversations in memory here (TRACKER_DATABASE_URL is not set)")
        return 0
    purged = purge(url, age)
    print(f"{purged.conversations} conversations ({purged.events} events) older than {args.older_than} deleted")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="jiujin", description="就近办助手 jiujin")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations to DATABASE_URL").set_defaults(run=_db_upgrade)

    staff = commands.add_parser("staff", help="staff accounts").add_subparsers(dest="staff_command", required=True)
    add = staff.add_parser("add", help="create or update a staff account")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[r.value for r in StaffRole])
    add.add_argument("--department", choices=[d.value for d in Department])
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(run=_staff_add)

    wechat = commands.add_parser("wechat", help="the WeChat Official Account")
    wechat_commands = wechat.add_subparsers(dest="wechat_command", required=True)
    menu_command = wechat_commands.add_parser("menu", help="show or publish the custom menu (WECHAT_APPID/SECRET)")
    menu_command.add_argument("action", choices=["show", "publish"])
    menu_command.set_defaults(run=_wechat_menu)
    kiosk_cli.add_commands(commands)

    trackers = commands.add_parser("trackers", help="Rasa's stored conversations (TRACKER_DATABASE_URL)")
    trackers_commands = trackers.add_subparsers(dest="trackers_command", required=True)
    purge_command = trackers_commands.add_parser("purge", help="delete conversations quiet for longer than an age")
    purge_command.add_argument("--older-than", required=True, help="e.g. 30d, 12h or 90m")
    purge_command.set_defaults(run=_trackers_purge)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``bin/jiujin``."""
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
