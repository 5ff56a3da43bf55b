"""Parametric QR codes (带参数二维码): the client asks the API stand-in for one with WeChat's rules and errors, and the
simulator "scans" it: a follower's scan is a SCAN event with the scene, a newcomer follows by it (subscribe +
``qrscene_`` scene), signed and encrypted like every delivery."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest
from wechatpy.exceptions import WeChatClientException

from simulators.wechat.qr_codes import MAX_EXPIRE_S, URL_PREFIX
from simulators.wechat.server import create_app
from tests.wechat.conftest import OPENID, PLAIN, SAFE, StandIn, call, serving
from tests.wechat.test_simulator import webhook
from wechat.client import WeChatApi
from wechat.settings import WeChatSettings
from wechat.state import SqliteState

SCENE = "ticket_20261127_A012"


def _api(standin: StandIn, tmp_path: Path) -> WeChatApi:
    return WeChatApi(dataclasses.replace(PLAIN, api_base_url=standin.base), SqliteState(tmp_path / "state.db"))


async def test_a_scene_code_comes_back_as_wechat_makes_it_and_is_remembered(standin: StandIn, tmp_path: Path) -> None:
    code = await _api(standin, tmp_path).create_scene_qr_code(SCENE, 3600)
    assert code.url.startswith(URL_PREFIX) and len(code.url) == len(URL_PREFIX) + 24
    assert code.expire_seconds == 3600 and code.ticket
    (created,) = [c for c in standin.state.calls if c["api"] == "qrcode_create"]
    assert created["errcode"] == 0 and created["url"] == code.url
    assert created["body"] == {
        "expire_seconds": 3600,
        "action_name": "QR_STR_SCENE",
        "action_info": {"scene": {"scene_str": SCENE}},
    }
    remembered = standin.state.qr_codes.scannable(code.url)
    assert remembered is not None and (remembered.scene, remembered.ticket) == (SCENE, code.ticket)
    other = await _api(standin, tmp_path).create_scene_qr_code(SCENE, 3600)
    assert other.url != code.url and other.ticket != code.ticket  # a new code each time, as on WeChat

    standin.now[0] += 3600  # the code expired: it cannot be scanned any more
    assert standin.state.qr_codes.scannable(code.url) is None


async def test_lifetimes_are_capped_at_thirty_days_and_default_to_thirty_seconds(standin: StandIn) -> None:
    client = standin.client()
    longest = await call(client.qrcode.create, _body(SCENE, expire_seconds=10**8))
    assert longest["expire_seconds"] == MAX_EXPIRE_S == 2592000
    unset = await call(client.qrcode.create, _body("x"))
    assert unset["expire_seconds"] == 30
    permanent = await call(
        client.qrcode.create, {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "queue"}}}
    )
    assert "expire_seconds" not in permanent and permanent["url"].startswith(URL_PREFIX)


def _body(scene: str, **extra: object) -> dict:
    return {"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}} | extra


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        (_body("x" * 65, expire_seconds=60), 40097),
        ({"action_name": "QR_STR_SCENE", "action_info": {"scene": {}}, "expire_seconds": 60}, 40097),
        (_body("", expire_seconds=60), 40097),
        (_body("x", expire_seconds=0), 40097),
        ({"action_name": "QR_SOMETHING", "action_info": {"scene": {"scene_str": "x"}}}, 47001),
    ],
    ids=["scene_str too long", "no scene_str", "empty scene_str", "no lifetime", "unknown action"],
)
async def test_wechat_refuses_bad_codes(standin: StandIn, body: dict, errcode: int) -> None:
    with pytest.raises(WeChatClientException) as refused:
        await call(standin.client().qrcode.create, body)
    assert refused.value.errcode == errcode
    assert [c["errcode"] for c in standin.state.calls if c["api"] == "qrcode_create"] == [errcode]
    assert standin.state.qr_codes.by_url == {}


async def test_the_client_raises_wechats_errcode_and_a_failing_api(standin: StandIn, tmp_path: Path) -> None:
    api = _api(standin, tmp_path)
    with pytest.raises(WeChatClientException) as too_long:
        await api.create_scene_qr_code("ticket_" + "9" * 60, 3600)
    assert too_long.value.errcode == 40097
    standin.state.inject(1)  # system busy (-1), then WeChat works again
    with pytest.raises(WeChatClientException) as busy:
        await api.create_scene_qr_code(SCENE, 3600)
    assert busy.value.errcode == -1
    assert (await api.create_scene_qr_code(SCENE, 3600)).url.startswith(URL_PREFIX)


@pytest.mark.parametrize("settings", [PLAIN, SAFE], ids=["plaintext", "safe"])
async def test_scanning_a_code_follows_a_newcomer_and_is_a_scan_for_a_follower(settings: WeChatSettings) -> None:
    async with webhook(settings) as (fake, url):
        app = create_app(settings, url, name=f"simulator_qr_{settings.safe_mode}")
        async with serving(app) as root, httpx.AsyncClient(timeout=10) as http:
            standin = app.ctx.standin
            code = standin.qr_codes.create(_body(SCENE, expire_seconds=3600))
            listed = (await http.get(f"{root}/simulator/qrcodes")).json()["codes"]
            assert [(c["url"], c["scene"], c["expired"]) for c in listed] == [(code.url, SCENE, False)]

            newcomer = await http.post(f"{root}/simulator/scan", json={"openid": OPENID, "url": code.url})
            assert newcomer.status_code == 200 and newcomer.json()["event"] == "subscribe"
            again = await http.post(f"{root}/simulator/scan", json={"openid": OPENID, "url": code.url})
            assert again.json()["event"] == "SCAN"  # now a follower
            poster = await http.post(
                f"{root}/simulator/scan", json={"openid": "oOther", "scene": "item_residence_permit"}
            )
            assert poster.json()["event"] == "subscribe"
            forced = {"openid": "oOther2", "scene": "queue", "follows": True}
            assert (await http.post(f"{root}/simulator/scan", json=forced)).json()["event"] == "SCAN"

            unknown = await http.post(f"{root}/simulator/scan", json={"openid": OPENID, "url": URL_PREFIX + "nope"})
            assert unknown.status_code == 404
            standin.clock = lambda: 4_000_000_000.0  # long after the code expired
            standin.qr_codes.clock = standin.clock
            expired = await http.post(f"{root}/simulator/scan", json={"openid": OPENID, "url": code.url})
            assert expired.status_code == 410 and expired.json()["error"] == "该二维码已过期"
            assert (await http.post(f"{root}/simulator/scan", json={"openid": OPENID})).status_code == 400

    followed, scanned, by_poster, by_machine = (r.message for r in fake.received)
    assert (followed.event, followed.scene_id, followed.ticket) == ("subscribe_scan", SCENE, code.ticket)
    assert "<EventKey><![CDATA[qrscene_ticket_20261127_A012]]></EventKey>" in fake.received[0].xml
    assert (scanned.event, scanned.scene_id, scanned.ticket) == ("scan", SCENE, code.ticket)
    assert (by_poster.event, by_poster.scene_id) == ("subscribe_scan", "item_residence_permit")
    assert (by_machine.event, by_machine.scene_id) == ("scan", "queue")
    if settings.safe_mode:
        assert all(b"<Encrypt>" in r.body for r in fake.received)
