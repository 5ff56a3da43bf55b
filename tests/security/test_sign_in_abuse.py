"""The console's sign-in, tried as someone guessing passwords would: from one address, whichever names are tried,
tries slow down with a growing wait; and the answer never tells whether a name exists or an account is locked (the
same status, the same words, the same hashing) — so nobody can find the staff's names, or lock accounts on purpose
and watch it work."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from backend.models import AuditEntry, StaffRole, StaffUser
from backend.services import staff_sessions as sessions
from backend.services.sign_in_throttle import FREE_FAILURES
from tests.backend.test_console import PASSWORD, Browser, Centre
from tests.conftest import Api, make_app, running

DAY = dt.date(2026, 11, 27)
ATTACKER = "203.0.113.7"
ERROR = re.compile(r'<p class="error" role="alert">([^<]*)</p>')


@pytest.fixture
async def centre(database_url: str, catalog) -> AsyncIterator[Centre]:
    """A centre whose clock stands still (noon of DAY), so a wait never runs out while a test runs."""
    async with running(make_app(database_url, catalog, notifier_enabled=False)) as api:
        api.set_today(DAY)
        centre = Centre(api)
        for username, role in (("qiantai", StaffRole.FRONT_DESK), ("guanli", StaffRole.ADMIN)):
            await centre.staff(username, role)
        yield centre


def browser(api: Api, *, real_ip: str | None = None, peer: str = "127.0.0.1") -> Browser:
    """A browser whose requests come from ``peer``; ``real_ip`` is what the local nginx says the client is."""
    transport = httpx.ASGITransport(app=api.app, client=(peer, 40000))
    headers = {"X-Real-IP": real_ip} if real_ip else {}
    return Browser(httpx.AsyncClient(transport=transport, base_url="https://jiujin.test", headers=headers))


def later(api: Api, seconds: float) -> None:
    """Move the centre's clock on by ``seconds``."""
    now = api.app.ctx.clock()
    api.app.ctx.clock = lambda: now + dt.timedelta(seconds=seconds)


async def refusals(api: Api) -> int:
    async with api.app.ctx.db.read() as session:
        counted = select(func.count(AuditEntry.id)).where(AuditEntry.action == "staff.login_refused")
        return int((await session.execute(counted)).scalar_one())


async def test_thirty_wrong_passwords_from_one_address_are_throttled_with_a_growing_wait(centre: Centre) -> None:
    api = centre.api
    attacker = browser(api, real_ip=ATTACKER)
    names = ["qiantai", "guanli", "admin", "zhangsan", "root"]
    statuses = [(await attacker.sign_in(names[i % len(names)], f"guess-{i}")).status_code for i in range(30)]
    assert statuses == [401] * FREE_FAILURES + [429] * (30 - FREE_FAILURES)
    assert await refusals(api) == FREE_FAILURES  # the refused tries never reached a password check
    throttled = await attacker.sign_in("qiantai")  # not even the right password gets through now
    assert throttled.status_code == 429 and "过于频繁" in throttled.text and throttled.headers["Retry-After"] == "1"

    waits = []
    for step in range(1, 4):  # each wait served, one more wrong try: the next wait is twice as long
        later(api, sum(waits) + 2**step)
        assert (await attacker.sign_in("qiantai", "guess-again")).status_code == 401
        again = await attacker.sign_in("qiantai", "guess-again")
        assert again.status_code == 429
        waits.append(int(again.headers["Retry-After"]))
    assert waits == [2, 4, 8]

    elsewhere = browser(api, real_ip="198.51.100.9")  # staff at their own address are not slowed down
    assert (await elsewhere.sign_in("guanli")).status_code == 303  # (qiantai's five wrong passwords locked it)


async def test_x_real_ip_counts_only_from_the_local_proxy(centre: Centre) -> None:
    api = centre.api
    statuses = []
    for i in range(FREE_FAILURES + 1):  # a client that names a new address each time, directly
        direct = browser(api, peer="192.0.2.50", real_ip=f"198.51.100.{i + 1}")
        statuses.append((await direct.sign_in("qiantai", f"guess-{i}")).status_code)
    assert statuses == [401] * FREE_FAILURES + [429]


async def test_staff_behind_one_office_address_who_sign_in_all_day_are_not_throttled(centre: Centre) -> None:
    office = "198.51.100.20"
    for _ in range(FREE_FAILURES * 2):
        assert (await browser(centre.api, real_ip=office).sign_in("guanli")).status_code == 303


async def test_unknown_names_wrong_passwords_and_locked_accounts_get_the_same_answer(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = centre.api
    hashed: list[str] = []
    verify = PasswordHasher.verify
    monkeypatch.setattr(PasswordHasher, "verify", lambda self, h, p: hashed.append(h) or verify(self, h, p))

    async def answer(username: str, password: str, address: str) -> tuple[int, str, int]:
        before = len(hashed)
        page = await browser(api, real_ip=address).sign_in(username, password)
        return page.status_code, ERROR.search(page.text).group(1), len(hashed) - before

    unknown = await answer("nobody", "whatever-1", "192.0.2.1")
    wrong = await answer("qiantai", "wrong-password", "192.0.2.2")
    for i in range(sessions.MAX_FAILURES - 1):  # the fifth wrong password in a row locks the account
        await answer("qiantai", "wrong-password", f"192.0.2.{10 + i}")
    async with api.app.ctx.db.read() as session:
        user = (await session.execute(select(StaffUser).where(StaffUser.username == "qiantai"))).scalar_one()
    assert user.locked_until is not None
    locked = await answer("qiantai", "wrong-password", "192.0.2.3")
    locked_right_password = await answer("qiantai", PASSWORD, "192.0.2.4")
    unknown_again = await answer("nobody", "whatever-1", "192.0.2.5")
    assert unknown == wrong == locked == locked_right_password == unknown_again
    status, message, hashes = unknown
    assert status == 401 and message == sessions.REFUSED and hashes == 1
