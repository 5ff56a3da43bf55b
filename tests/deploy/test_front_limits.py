"""Doors of the production configuration: nginx's rate limits on the public front, flooded as an attacker
would, through the real nginx. A follower flooding the WeChat webhook is held back without holding back the next
follower (all WeChat traffic comes from WeChat's servers); the counter API and the console's sign-in are held back
per address; the answer is a 429 with a short Chinese message."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.deploy.conftest import Prod

TOO_MANY = {"error": {"code": "too_many_requests", "message": "请求太频繁了，请稍等一会儿再试。"}}


def _flood(method: str, url: str, count: int, **kwargs: object) -> list[httpx.Response]:
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: client.request(method, url, **kwargs), range(count)))  # type: ignore[arg-type]


def _throttled(responses: list[httpx.Response]) -> list[httpx.Response]:
    """The answers of nginx's limits (the backend's own throttles answer differently)."""
    return [
        r
        for r in responses
        if r.status_code == 429 and r.headers.get("content-type") == "application/json" and r.json() == TOO_MANY
    ]


def test_a_follower_flooding_the_wechat_webhook_is_held_back_alone(prod: Prod) -> None:
    webhook = f"{prod.front}/webhooks/wechat/webhook"
    flood = {"openid": f"oFlood{uuid.uuid4().hex[:10]}", "signature": "0" * 40, "timestamp": "1", "nonce": "1"}
    responses = _flood("POST", webhook, 80, params=flood, content=b"<xml></xml>")
    throttled = _throttled(responses)
    assert throttled
    assert len(throttled) < len(responses)  # the burst before it went through
    other = httpx.post(webhook, params=flood | {"openid": f"oOther{uuid.uuid4().hex[:10]}"}, content=b"<xml></xml>")
    assert other.status_code != 429


def test_the_counter_api_is_held_back_per_address(prod: Prod) -> None:
    responses = _flood("POST", f"{prod.front}/kiosk/api/turn", 150, json={"session": "counter-1", "text": "你好"})
    assert _throttled(responses)


def test_console_sign_in_attempts_are_held_back_but_the_form_still_opens(prod: Prod) -> None:
    tries = {"username": f"nobody-{uuid.uuid4().hex[:6]}", "password": "wrong-password-123"}
    responses = _flood("POST", f"{prod.front}/console/login", 40, data=tries)
    assert _throttled(responses)
    assert httpx.get(f"{prod.front}/console/login").status_code == 200  # reading the form is not a try
