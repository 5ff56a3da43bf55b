"""Speech to text over HTTP, for WeChat voice notes that arrive without WeChat's own recognition.

Why in the backend: vosk and its model (hundreds of MB) belong in the modern environment, loaded once per worker at
start-up from VOSK_MODEL_PATH; the WeChat channel runs inside Rasa (Python 3.10) and only posts the note's bytes.
Recognition is free, without a grammar: followers say whole sentences, and the dialogue repairs homophones itself.
The body is the raw audio in any format ffmpeg reads (`voice.transcode`), read in a stream so that the limit here
(a 60-second note fits easily) is not the API's 256 KB one. Decoding and recognition block, so they run in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from sanic import Blueprint, Request, Sanic, json

from backend.api.openapi import operation
from backend.api.schemas import SpeechOut
from backend.errors import ApiError
from voice.recognizer import Heard, Recognizer, RecognizerUnavailable
from voice.transcode import AudioTooLarge, DecoderUnavailable, NotAudio, decode

logger = logging.getLogger(__name__)

speech = Blueprint("speech", url_prefix="/api/v1/speech")

MAX_AUDIO_BYTES = 2 * 1024 * 1024
"""Largest body accepted: a 60-second voice note is ~90 KB as AMR and ~1.9 MB as 16 kHz WAV."""
AUDIO_TYPES = ("audio/amr", "audio/speex", "audio/ogg", "audio/mpeg", "audio/wav", "application/octet-stream")
"""Media types the OpenAPI document lists; the Content-Type header is not looked at, ffmpeg recognises the format."""
NOT_CONFIGURED = (
    "语音识别暂不可用：后台没有配置语音模型（VOSK_MODEL_PATH）。"
    " / Speech recognition is unavailable: no speech model is configured (VOSK_MODEL_PATH)."
)
NOT_LOADED = (
    "语音识别暂不可用：语音模型无法加载，详见后台日志。"
    " / Speech recognition is unavailable: the speech model could not be loaded (see the backend log)."
)
NO_DECODER = (
    "语音识别暂不可用：后台无法解码音频（ffmpeg）。"
    " / Speech recognition is unavailable: the audio cannot be decoded (ffmpeg)."
)


@dataclass(frozen=True)
class SpeechEngine:
    """A worker's recogniser, or why there is none (a bilingual message for the 503)."""

    recognizer: Recognizer | None
    unavailable: str = ""


def load_engine(model_path: Path | None) -> SpeechEngine:
    """The recogniser of ``model_path`` with free recognition; never raises (blocks for a second or more)."""
    if model_path is None:
        logger.info("speech recognition off: VOSK_MODEL_PATH is not set")
        return SpeechEngine(None, NOT_CONFIGURED)
    try:
        return SpeechEngine(Recognizer(model_path))
    except RecognizerUnavailable as exc:
        logger.error("speech recognition off: %s", exc)
        return SpeechEngine(None, NOT_LOADED)


@speech.before_server_start
async def load_model(app: Sanic) -> None:
    """Load the model once per worker, off the event loop."""
    app.ctx.speech = await asyncio.to_thread(load_engine, app.ctx.settings.vosk_model_path)


@speech.post("/recognize", stream=True)
@operation(
    "识别一段语音",
    tag="speech",
    raw_body=AUDIO_TYPES,
    responses={200: SpeechOut, 413: None, 422: None, 503: None},
)
async def recognize(request: Request):
    """What is said in the audio of the body (any format ffmpeg reads; a voice note lasts at most 60 s)."""
    engine: SpeechEngine = request.app.ctx.speech
    if engine.recognizer is None:
        raise ApiError(503, "speech_unavailable", engine.unavailable)
    audio = await _bounded_body(request, MAX_AUDIO_BYTES)
    try:
        heard = await asyncio.to_thread(_hear, engine.recognizer, audio)
    except (NotAudio, AudioTooLarge) as exc:
        logger.info("speech refused: %s (%d bytes)", type(exc).__name__, len(audio))
        raise ApiError(422, "not_audio", "无法识别：发送的内容不是可以解码的音频。") from None
    except DecoderUnavailable as exc:
        logger.error("speech recognition failed: %s", exc)
        raise ApiError(503, "decoder_unavailable", NO_DECODER) from None
    # Only sizes in the log: what a resident said stays out of it.
    logger.info(
        "speech: %.1f s heard, %d characters, confidence %.2f", heard.seconds, len(heard.text), heard.confidence
    )
    out = SpeechOut(text=heard.text, confidence=round(heard.confidence, 3), seconds=round(heard.seconds, 2))
    return json(out.model_dump(mode="json"))


def _hear(recognizer: Recognizer, audio: bytes) -> Heard:
    return recognizer.recognize(decode(audio, max_bytes=MAX_AUDIO_BYTES))


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit`` bytes (before reading it all)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    while (chunk := await request.stream.read()) is not None:
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"语音太长了：最多 {limit // (1024 * 1024)} MB（约一分钟的语音）。")
