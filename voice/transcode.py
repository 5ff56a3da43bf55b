"""Audio bytes in the formats WeChat sends (AMR-NB voice notes, speex, mp3, wav) as 16 kHz mono PCM, through ffmpeg.

Why ffmpeg, and why as a subprocess: no Python package of this project decodes AMR-NB or speex, and Debian's ffmpeg
decodes them all (AMR-NB and AMR-WB natively, speex through libspeex). The bytes come from outside, so ffmpeg runs
in its own process: a malformed file can crash or hang only that process, which a timeout ends. The audio goes in on
stdin and comes out on stdout as raw samples (``-f s16le -ac 1 -ar 16000``, the format vosk expects), with no
temporary files. Only the pipe protocol and a short list of audio demuxers are allowed, so bytes that pretend to be
a playlist cannot make ffmpeg open files or URLs. Output stops after `MAX_SECONDS`: a small file that decodes to
hours of sound cannot fill the memory.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

from voice.audio import RATE, Pcm

log = logging.getLogger(__name__)

MAX_INPUT_BYTES = 2 * 1024 * 1024
"""Largest input accepted, in bytes: a 60-second WeChat voice note is about 90 KB as AMR, 1.9 MB as 16 kHz WAV."""
MAX_SECONDS = 65.0
"""Decoded sound is cut after this many seconds (WeChat voice notes last at most 60 s)."""
TIMEOUT_S = 10.0
"""Seconds ffmpeg may take for one input; decoding a minute of AMR takes well under one."""
DEMUXERS = "amr,ogg,mp3,wav,aac,flac"
"""ffmpeg's demuxers allowed to read the input: AMR (WeChat's ``Format=amr``), Ogg (speex, opus), mp3, wav…"""


class TranscodeError(RuntimeError):
    """The audio could not be turned into PCM."""


class DecoderUnavailable(TranscodeError):
    """ffmpeg is missing, cannot run, or did not finish in time: the server's fault, not the audio's."""


class NotAudio(TranscodeError):
    """The bytes are not audio ffmpeg can decode, or hold no sound at all."""


class AudioTooLarge(TranscodeError):
    """The input is larger than the limit."""


def ffmpeg_path() -> str | None:
    """The ffmpeg executable on PATH (Debian's ``ffmpeg`` package, installed by ``make system``), or None."""
    return shutil.which("ffmpeg")


def decode(
    data: bytes,
    *,
    rate: int = RATE,
    max_bytes: int = MAX_INPUT_BYTES,
    max_seconds: float = MAX_SECONDS,
    timeout_s: float = TIMEOUT_S,
    ffmpeg: str | None = None,
) -> Pcm:
    """``data`` (any format ffmpeg recognises among `DEMUXERS`) as mono 16-bit PCM at ``rate`` Hz.

    Blocks while ffmpeg runs (run it in a thread from async code). Raises `AudioTooLarge` over ``max_bytes``,
    `NotAudio` for bytes ffmpeg cannot decode or that decode to nothing, `DecoderUnavailable` when ffmpeg is
    missing or exceeds ``timeout_s``. Sound after ``max_seconds`` is dropped.
    """
    if len(data) > max_bytes:
        raise AudioTooLarge(f"{len(data)} bytes of audio; at most {max_bytes} are accepted")
    if not data:
        raise NotAudio("no audio: the input is empty")
    executable = ffmpeg or ffmpeg_path()
    if executable is None:
        raise DecoderUnavailable("未安装 ffmpeg / ffmpeg is not installed (Debian package ffmpeg; make system)")
    command = [
        executable,
        "-hide_banner",
        "-nostdin",
        "-loglevel", "error",
        "-protocol_whitelist", "pipe",
        "-format_whitelist", DEMUXERS,
        "-i", "pipe:0",
        "-vn",
        "-t", f"{max_seconds:g}",
        "-f", "s16le", "-acodec", "pcm_s16le", "-ac", "1", "-ar", str(rate),
        "pipe:1",
    ]  # fmt: skip
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=timeout_s, check=False)
    except OSError as exc:  # not found, not executable
        raise DecoderUnavailable(f"无法运行 ffmpeg / ffmpeg could not be run ({executable}: {exc.strerror})") from exc
    except subprocess.TimeoutExpired as exc:
        raise DecoderUnavailable(f"ffmpeg did not finish within {timeout_s:g} s") from exc
    if done.returncode != 0:
        # ffmpeg's last line says what it could not read ("Invalid data found when processing input", …).
        reason = (done.stderr.decode("utf-8", errors="replace").strip().splitlines() or ["no message"])[-1]
        raise NotAudio(f"not audio ffmpeg can decode: {reason[:200]}")
    samples = done.stdout[: len(done.stdout) - len(done.stdout) % 2]
    if not samples:
        raise NotAudio("the input holds no sound")
    return Pcm(samples, rate)
