"""The production configuration's public front: what WeChat and residents' phones can reach, and what not."""

from __future__ import annotations

import httpx

from tests.conftest import case_body
from tests.deploy.conftest import Prod


def test_the_public_front_serves_pages_and_reads_but_no_writes_to_the_api(prod: Prod) -> None:
    front, internal = prod.front, prod.stack.internal
    assert httpx.get(f"{front}/api/v1/items").status_code == 200
    assert httpx.get(f"{front}/api/v1/opening-hours").status_code == 200
    assert httpx.get(f"{front}/board").status_code == 200
    assert httpx.get(f"{front}/console/login").status_code == 200
    # Filing, transitions, queue numbers and print jobs are for the action servers and devices, not the Internet.
    refused = [
        httpx.post(f"{front}/api/v1/cases", json=case_body()),
        httpx.get(f"{front}/api/v1/cases", params={"status": "submitted"}),
        httpx.post(f"{front}/api/v1/queue/tickets", json={"category": "A", "channel": "counter"}),
        httpx.post(f"{front}/api/v1/queue/tickets/2026-11-27/A001/follower", json={"wechat_openid": "oSomeone"}),
        httpx.post(f"{front}/api/v1/print-jobs/claim", json={"printer": "ticket"}),
        httpx.post(f"{front}/api/v1/items", json={}),
    ]
    assert [response.status_code for response in refused] == [404, 404, 404, 404, 404, 403]
    assert refused[0].json()["error"]["code"] == "not_found"
    # The same API answers on the internal side.
    assert httpx.post(f"{internal}/api/v1/cases", json=case_body(), headers=prod.headers).status_code == 201
