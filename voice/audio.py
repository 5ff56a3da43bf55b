"""WAV in and out for the voice counter, always as 16 kHz mono 16-bit PCM, the one format vosk and webrtcvad share.

Why plain Python: numpy is not a dependency of this project and ``audioop`` is deprecated (gone in Python 3.13),
so channel mixing and resampling use the stdlib ``array``. Resampling is linear interpolation without an
anti-alias filter: the sources are microphones and espeak (little energy above 8 kHz), and speech recognition
does not hear the small aliasing that leaves; a counter utterance is a few seconds, so speed is no concern.
"""

from __future__ import annotations

import sys
import wave
from array import array
from dataclasses import dataclass
from pathlib import Path

RATE = 16000
"""Samples per second that vosk's models and webrtcvad expect."""


@dataclass(frozen=True)
class Pcm:
    """A mono sound."""

    samples: bytes
    """16-bit signed little-endian samples, one channel."""
    rate: int
    """Samples per second (Hz)."""


def duration_s(pcm: Pcm) -> float:
    """Length of ``pcm`` in seconds."""
    return len(pcm.samples) / 2 / pcm.rate if pcm.rate else 0.0


def silence(seconds: float, rate: int = RATE) -> Pcm:
    """``seconds`` of digital silence, to pad or join sounds."""
    return Pcm(bytes(2 * round(seconds * rate)), rate)


def concat(*parts: Pcm) -> Pcm:
    """One sound made of ``parts`` played one after another (all at the same rate)."""
    rates = {part.rate for part in parts}
    if len(rates) > 1:
        raise ValueError(f"cannot join sounds with different rates {sorted(rates)}")
    return Pcm(b"".join(part.samples for part in parts), rates.pop() if rates else RATE)


def _to_array(samples: bytes) -> array:
    values = array("h")
    values.frombytes(samples[: len(samples) - len(samples) % 2])
    if sys.byteorder == "big":  # WAV data is little-endian whatever the machine
        values.byteswap()
    return values


def _to_bytes(values: array) -> bytes:
    if sys.byteorder == "big":
        values = array("h", values)
        values.byteswap()
    return values.tobytes()


def resample(pcm: Pcm, rate: int = RATE) -> Pcm:
    """``pcm`` at ``rate`` samples per second, by linear interpolation (see the module docstring)."""
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, not {rate}")
    if pcm.rate == rate:
        return pcm
    source = _to_array(pcm.samples)
    count = len(source) * rate // pcm.rate
    out = array("h", bytes(2 * count))
    step, last = pcm.rate / rate, len(source) - 1
    for i in range(count):
        position = i * step
        j = int(position)
        if j >= last:
            out[i] = source[last]
        else:
            frac = position - j
            out[i] = round(source[j] + (source[j + 1] - source[j]) * frac)
    return Pcm(_to_bytes(out), rate)


def _mix_to_mono(samples: bytes, channels: int) -> bytes:
    """The mean of the channels of interleaved 16-bit frames."""
    values = _to_array(samples)
    usable = len(values) - len(values) % channels
    mono = array("h", (sum(values[i : i + channels]) // channels for i in range(0, usable, channels)))
    return _to_bytes(mono)


def read_wav(path: Path | str, rate: int = RATE) -> Pcm:
    """The sound in the WAV file ``path`` as mono 16-bit PCM at ``rate`` Hz (stereo mixed down, resampled).

    Raises ValueError for compressed (non-PCM), 8-bit or 24/32-bit files, naming the file: the recogniser would
    hear only noise from bytes it misreads, so it is better to refuse them plainly.
    """
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, source_rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except wave.Error as exc:  # the stdlib reader accepts only uncompressed PCM ("unknown format: 3", …)
        raise ValueError(f"{path}: not a PCM WAV file ({exc})") from exc
    except EOFError as exc:
        raise ValueError(f"{path}: truncated WAV file") from exc
    if width != 2:
        raise ValueError(f"{path}: {8 * width}-bit samples; only 16-bit PCM WAV is supported")
    if channels < 1:
        raise ValueError(f"{path}: no audio channels")
    samples = frames if channels == 1 else _mix_to_mono(frames, channels)
    return resample(Pcm(samples, source_rate), rate)


def write_wav(path: Path | str, pcm: Pcm) -> Path:
    """Write ``pcm`` to ``path`` as a mono 16-bit PCM WAV file and return the path."""
    path = Path(path)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(pcm.rate)
        wav.writeframes(pcm.samples)
    return path
