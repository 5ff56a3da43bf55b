"""Speech to text over HTTP at ``POST /speech/recognize``: WeChat voice notes that arrive without WeChat's own
recognition (`wechat.voice_notes` posts the note's bytes from inside Rasa).

vosk and its model (hundreds of MB) are loaded once, when the service starts, from VOSK_MODEL_PATH; the WeChat
channel runs inside Rasa (Python 3.10) and stays light. Recognition is free, without a grammar: followers say whole
sentences, and the dialogue repairs homophones itself. The body is the raw audio in any format ffmpeg reads
(`voice.transcode`), read in a stream so that its own limit (a 60-second note fits easily) holds while it arrives.
Decoding and recognition block, so they run in a thread. Only the ``channels`` service may ask (its bearer token,
`security.tokens`): recognition costs a second of CPU, and what residents say is theirs.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass
from pathlib import Path

from sanic import Blueprint, Request, Sanic, json

from counter.errors import CounterError
from security.tokens import service_token
from voice.recognizer import Heard, Recognizer, RecognizerUnavailable
from voice.transcode import AudioTooLarge, DecoderUnavailable, NotAudio, decode

log = logging.getLogger(__name__)

speech = Blueprint("speech", url_prefix="/speech")

CALLER = "channels"
"""The service whose token recognition asks for: Rasa's channels."""
MAX_AUDIO_BYTES = 2 * 1024 * 1024
"""Largest body accepted: a 60-second voice note is ~90 KB as AMR and ~1.9 MB as 16 kHz WAV."""
NOT_CONFIGURED = (
    "语音识别暂不可用：服务台没有配置语音模型（VOSK_MODEL_PATH）。"
    " / Speech recognition is unavailable: no speech model is configured (VOSK_MODEL_PATH)."
)
NOT_LOADED = (
    "语音识别暂不可用：语音模型无法加载，详见服务台日志。"
    " / Speech recognition is unavailable: the speech model could not be loaded (see the counter service's log)."
)
NO_DECODER = (
    "语音识别暂不可用：服务台无法解码音频（ffmpeg）。"
    " / Speech recognition is unavailable: the audio cannot be decoded (ffmpeg)."
)
TOKEN_REQUIRED = CounterError(401, "token_required", "请先提供服务令牌（Authorization: Bearer …）。")


@dataclass(frozen=True)
class SpeechEngine:
    """The service's recogniser, or why there is none (a bilingual message for the 503)."""

    recognizer: Recognizer | None
    unavailable: str = ""


def load_engine(model_path: Path | None) -> SpeechEngine:
    """The recogniser of ``model_path`` with free recognition, warmed up; never raises (blocks for seconds)."""
    if model_path is None:
        log.info("speech recognition off: VOSK_MODEL_PATH is not set")
        return SpeechEngine(None, NOT_CONFIGURED)
    try:
        recognizer = Recognizer(model_path)
        recognizer.warm_up()  # the first voice note must fit WeChat's few seconds too
        return SpeechEngine(recognizer)
    except RecognizerUnavailable as exc:
        log.error("speech recognition off: %s", exc)
        return SpeechEngine(None, NOT_LOADED)


@speech.before_server_start
async def load_model(app: Sanic) -> None:
    """Load the model once, off the event loop."""
    app.ctx.speech = await asyncio.to_thread(load_engine, app.ctx.settings.vosk_model_path)


@speech.post("/recognize", stream=True)
async def recognize(request: Request):
    """What is said in the audio of the body (any format ffmpeg reads; a voice note lasts at most 60 s):
    ``{"text", "confidence", "seconds"}``; 401 without the channels' token, 413 too long, 422 not audio, 503 no
    model or no decoder."""
    _check_caller(request)
    engine: SpeechEngine = request.app.ctx.speech
    if engine.recognizer is None:
        raise CounterError(503, "speech_unavailable", engine.unavailable)
    audio = await _bounded_body(request, MAX_AUDIO_BYTES)
    try:
        heard = await asyncio.to_thread(_hear, engine.recognizer, audio)
    except (NotAudio, AudioTooLarge) as exc:
        log.info("speech refused: %s (%d bytes)", type(exc).__name__, len(audio))
        raise CounterError(422, "not_audio", "无法识别：发送的内容不是可以解码的音频。") from None
    except DecoderUnavailable as exc:
        log.error("speech recognition failed: %s", exc)
        raise CounterError(503, "decoder_unavailable", NO_DECODER) from None
    # Only sizes in the log: what a resident said stays out of it.
    log.info("speech: %.1f s heard, %d characters, confidence %.2f", heard.seconds, len(heard.text), heard.confidence)
    return json(
        {"text": heard.text, "confidence": round(heard.confidence, 3), "seconds": round(heard.seconds, 2)},
        headers={"Cache-Control": "no-store"},
    )


def _check_caller(request: Request) -> None:
    """401 unless the request carries the channels' bearer token (compared in constant time)."""
    scheme, _, presented = request.headers.get("authorization", "").strip().partition(" ")
    given = presented.strip().encode("utf-8", "surrogateescape")
    expected = service_token(CALLER)
    if scheme.lower() != "bearer" or not expected or not hmac.compare_digest(given, expected.encode()):
        log.warning("speech: refused a request without the %s service's token", CALLER)
        raise TOKEN_REQUIRED


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


def _too_large(limit: int) -> CounterError:
    return CounterError(413, "payload_too_large", f"语音太长了：最多 {limit // (1024 * 1024)} MB（约一分钟的语音）。")
