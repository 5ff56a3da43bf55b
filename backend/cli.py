"""``bin/jiujin``: the project's command line (database, staff accounts, the WeChat menu; more join as parts land)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from backend import kiosk_cli, migrate
from backend.catalog.schema import Department
from backend.config import Settings
from backend.models import StaffRole
from backend.services import staff_accounts
from backend.services.passwords import MIN_PASSWORD_LENGTH
from wechat import menu
from wechat.settings import WeChatSettings


def _db_upgrade(args: argparse.Namespace) -> int:
    migrate.upgrade(Settings.from_env().database_url)
    print("database is up to date")
    return 0


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
    account = staff_accounts.NewAccount(args.username, role.value, args.department or "", password)
    try:
        migrate.run_upgraded(Settings.from_env().database_url, lambda db: staff_accounts.provision(db, account))
    except staff_accounts.AccountRefused as refused:
        print(f"error: {refused.message}", file=sys.stderr)
        return 2
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

    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``bin/jiujin``."""
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
