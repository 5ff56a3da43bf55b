"""The counter service's kiosk API when the backend, which says whose credential a request carries, cannot be
reached: a request with a credential gets 503 (the screen says the system is busy, and tries again), one without
any is refused at once, and no turn reaches the dialogue. The door itself is tried in tests/security/test_counters.py.
"""

from __future__ import annotations

import socket

import httpx

from tests.counter.conftest import counter_app, serving


async def test_without_the_backend_no_credential_is_accepted_and_the_screen_is_told_to_wait() -> None:
    down = socket.socket()
    down.bind(("127.0.0.1", 0))  # bound, not listening: connection refused
    nobody = f"http://127.0.0.1:{down.getsockname()[1]}"
    app = counter_app(backend_url=nobody, rasa_url=nobody)
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        busy = await http.post("/kiosk/api/turn", json={"text": "帮我取号"}, headers={"X-Counter-Key": "hall-1.abc"})
        assert busy.status_code == 503 and busy.json()["error"]["code"] == "backend_unavailable"
        stream = await http.get("/kiosk/api/events", headers={"X-Counter-Key": "hall-1.abc"})
        assert stream.status_code == 503
        refused = await http.post("/kiosk/api/turn", json={"text": "帮我取号"})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "counter_not_authorised"
        assert (await http.get("/kiosk")).status_code == 200  # the page itself is the same for everyone
    assert app.ctx.stations.get("hall-1").current is None  # no resident session was opened
    down.close()
