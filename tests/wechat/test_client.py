"""The one outbound client against the WeChat API stand-in: one access token for every process, refreshed by one
of them; customer-service messages that stay inside WeChat's allowance; templates and the menu."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.wechat.conftest import OPENID, PLAIN, StandIn
from wechat import menu, templates
from wechat.client import QUOTA_ERRORS, WeChatApi
from wechat.delivery import ALLOWANCE, HELD_OVER, CustomerService
from wechat.state import RedisState, SharedState, SqliteState

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(params=["sqlite", "redis"])
def new_state(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], SharedState]:
    """Each call: another process's connection to one shared state (a fresh one per test)."""
    if request.param == "sqlite":
        return lambda: SqliteState(tmp_path / "state.db")
    return lambda: RedisState(REDIS_URL)


def _api(standin: StandIn, state: SharedState) -> WeChatApi:
    return WeChatApi(dataclasses.replace(PLAIN, api_base_url=standin.base), state)


async def test_every_process_uses_one_token_and_one_of_them_refreshes_it(
    standin: StandIn, new_state: Callable[[], SharedState]
) -> None:
    processes = [_api(standin, new_state()) for _ in range(6)]
    processes[0].client.session.delete(processes[0].client.access_token_key)  # none left by an earlier run
    standin.state.grant(OPENID)
    await asyncio.gather(*(api.send_text(OPENID, f"第{n}条") for n, api in enumerate(processes[:5], start=1)))
    assert standin.state.token_fetches == 1  # six clients, one token (the others waited for it)

    standin.now[0] += 7200  # the token expired at WeChat: the first call meets 42001/40001 and one refresh follows
    standin.state.grant(OPENID)
    await processes[5].send_text(OPENID, "过期后")
    await processes[0].send_text(OPENID, "换了令牌")
    assert standin.state.token_fetches == 2


async def test_customer_service_stays_inside_wechats_allowance(
    standin: StandIn, new_state: Callable[[], SharedState]
) -> None:
    state = new_state()
    api = _api(standin, state)
    service = CustomerService(api, state)
    openid = f"o{uuid.uuid4().hex[:20]}"
    standin.state.grant(openid)  # WeChat counts the follower's message …
    assert await service.follower_wrote(openid) == []  # … and so do we
    long_answer = "\n".join(["请带好身份证原件和户口簿原件。" * 40] * 11)  # 6+ pieces of WeChat's size
    assert not await service.deliver(openid, long_answer)
    sent = [c for c in standin.state.calls if c["api"] == "custom_send" and c["openid"] == openid]
    assert len([c for c in sent if c["errcode"] == 0]) == ALLOWANCE
    assert not [c for c in sent if c["errcode"] in QUOTA_ERRORS]  # never refused by WeChat for the allowance
    standin.state.grant(openid)
    held = await service.follower_wrote(openid)
    assert len(held) == 1 and held[0].startswith(HELD_OVER)


async def test_a_template_notice_reaches_the_api_with_its_fields(standin: StandIn, tmp_path: Path) -> None:
    settings = dataclasses.replace(
        PLAIN,
        api_base_url=standin.base,
        templates=dataclasses.replace(PLAIN.templates, correction_needed="tpl-correction"),
    )
    state = SqliteState(tmp_path / "state.db")
    api = WeChatApi(settings, state)
    notice = templates.correction_needed("JJ-20261126-0003", "浙江省居住证申领", ["租房合同", "居住登记凭证"])
    assert await templates.send_notice(api, CustomerService(api, state), OPENID, notice) == "template"
    (call,) = [c for c in standin.state.calls if c["api"] == "template_send"]
    assert call["body"]["template_id"] == "tpl-correction" and call["body"]["touser"] == OPENID
    assert call["body"]["data"]["keyword3"]["value"] == "1. 租房合同\n2. 居住登记凭证"


async def test_the_menu_is_one_wechat_accepts(standin: StandIn, tmp_path: Path) -> None:
    settings = dataclasses.replace(PLAIN, api_base_url=standin.base, state_path=tmp_path / "state.db")
    await menu.publish(settings)
    assert standin.state.menu == menu.MENU
    with pytest.raises(ValueError, match="WECHAT_APPID"):
        await menu.publish(dataclasses.replace(settings, appid=""))
