"""The counter's own decisions, before and after the dialogue: confirm what was heard with low confidence, offer
help after two failures, repeat the last answer; the first message starts the session in voice mode. A small HTTP
server stands in for Rasa's REST channel and records what the counter sends."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from counter.dialogue import BACKEND_DOWN, GOODBYE, NOT_HEARD, OFFER_HELP, SERVED, Counter, confirmation


class FakeRasa:
    def __init__(self) -> None:
        self.received: list[dict] = []
        self.answers: dict[str, str] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.received.append(body)
                text = fake.answers.get(body["message"], f"好的：{body['message']}")
                reply = json.dumps([{"recipient_id": body["sender"], "text": text}]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    fake = FakeRasa()
    yield fake
    fake.server.shutdown()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def test_a_confident_utterance_goes_to_the_bot_in_voice_mode(rasa: FakeRasa, http: httpx.AsyncClient) -> None:
    counter = Counter(rasa.url, http)
    turn = await counter.hear("我想办居住证", 0.92)
    assert turn.replies == ["好的：我想办居住证"] and not turn.asked_to_confirm
    await counter.hear("要多久", 0.9)
    assert rasa.received[0]["metadata"] == {"interface": "voice"} and "metadata" not in rasa.received[1]
    assert rasa.received[0]["sender"] == rasa.received[1]["sender"]


async def test_low_confidence_is_confirmed_before_acting(rasa: FakeRasa, http: httpx.AsyncClient) -> None:
    counter = Counter(rasa.url, http)
    asked = await counter.hear("老年卡", 0.31)
    assert asked.asked_to_confirm and asked.replies == [confirmation("老年卡")] and rasa.received == []
    done = await counter.hear("对", 0.95)
    assert done.replies == ["好的：老年卡"] and rasa.received[0]["message"] == "老年卡"


async def test_a_no_and_then_silence_offer_the_buttons_and_staff(rasa: FakeRasa, http: httpx.AsyncClient) -> None:
    counter = Counter(rasa.url, http)
    await counter.hear("老年卡", 0.2)
    assert (await counter.hear("不是", 0.9)).replies == [NOT_HEARD]
    assert (await counter.hear("", 0.0)).replies == [OFFER_HELP]  # the second failure in a row
    assert rasa.received == []


async def test_repeat_says_the_last_answer_again_without_asking_the_bot(
    rasa: FakeRasa, http: httpx.AsyncClient
) -> None:
    counter = Counter(rasa.url, http)
    first = await counter.hear("我想办居住证", 0.9)
    again = await counter.hear("重复", 0.9)
    assert again.replies == first.replies and len(rasa.received) == 1


async def test_with_the_dialogue_down_the_counter_says_so(http: httpx.AsyncClient) -> None:
    assert (await Counter("http://127.0.0.1:9", http).hear("我想办居住证", 0.9)).replies == [BACKEND_DOWN]


async def test_done_says_goodbye_and_finishes_without_asking_the_bot(rasa: FakeRasa, http: httpx.AsyncClient) -> None:
    counter = Counter(rasa.url, http)
    await counter.hear("老年卡", 0.2)  # a confirmation pending: 办完了 still ends
    turn = await counter.hear("好了，我办完了。", 0.9)
    assert turn.finished and turn.replies == [GOODBYE] and rasa.received == []
    asked = await counter.hear("我的居住证办完了吗？", 0.9)  # a question about a case, not the end of the visit
    assert not asked.finished and rasa.received[0]["message"] == "我的居住证办完了吗？"


async def test_an_answer_with_a_case_number_or_a_queue_number_served_the_resident(
    rasa: FakeRasa, http: httpx.AsyncClient
) -> None:
    rasa.answers = {
        "骆家庄社区": "已为您提交，办件编号是 JJ-20261207-0012，请记好。",
        "取号": "您的号码是 V003，前面还有 2 人，大约要等 6 分钟。请留意叫号。",
    }
    counter = Counter(rasa.url, http)
    assert not (await counter.hear("我想办居住证", 0.9)).served
    assert (await counter.hear("骆家庄社区", 0.9)).served and (await counter.hear("取号", 0.9)).served
    assert not SERVED.search("您的号码是多少？")  # asking for a number is not being given one
