"""Spoken calls in the hall: every queue event that asks a resident to a window becomes a chime and the sentence
twice, rendered to one WAV file (kept for the record and the tests) and played on the hall's loudspeaker.

How numbers are read: espeak-ng's Mandarin voice reads "A012" as ``'ei51 l,i35N s.i.35 '@r51`` — "A 零十二", the
digits as the number twelve with a leading zero. Ticket numbers are called digit by digit in Chinese halls, so the
digits are spelled as Chinese digits, "A 零 一 二" (``'ei51 l'i35N j'i55 '@r51``: A líng yī èr). The category letter
stays a Latin letter, which the voice reads by its letter name (A → "ei", V → "vei"); the window stays in Arabic
digits, which it reads as a number (3 → sān, 12 → shí èr), as people say it.

Without speech (no pyttsx3/espeak, or no Mandarin voice) the chime alone is written, with a ``.txt`` holding the
sentence, so staff and tests still see each call.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import time
import wave
from array import array
from pathlib import Path

from devices.queue_events import QueueEvent
from voice.tts import Speaker

log = logging.getLogger(__name__)

CHIME_RATE = 16_000
"""Samples per second of the chime written on its own (no speech to match)."""
DIGITS = dict(zip("0123456789", "零一二三四五六七八九", strict=True))
_UNSAFE = re.compile(r"[^0-9A-Za-z]+")


def spoken_number(number: str) -> str:
    """A ticket number as it should be read: letters kept, digits as Chinese digits, "A012" → "A 零 一 二"."""
    return " ".join(DIGITS.get(ch, ch) for ch in number.strip() if not ch.isspace())


def announcement(number: str, window: int) -> str:
    """The sentence that calls ``number`` to ``window``: "请 A 零 一 二 号到 3 号窗口办理"."""
    return f"请 {spoken_number(number)} 号到 {window} 号窗口办理"


def chime(rate: int = CHIME_RATE) -> array:
    """A two-tone "ding-dong" (E5 then C5, bell-like partials, decaying), 16-bit mono samples at ``rate``.

    It turns heads before the sentence: a resident half listening hears the number the first time it is read.
    """
    return array("h", _chime(rate))  # a copy: callers append to it


@functools.cache
def _chime(rate: int) -> array:  # ~40 ms of pure Python per rate: computed once
    total = int(1.5 * rate)
    mix = [0.0] * total
    for start_s, freq, length_s in ((0.0, 659.25, 0.9), (0.45, 523.25, 1.05)):
        first, count = int(start_s * rate), int(length_s * rate)
        for i in range(min(count, total - first)):
            t = i / rate
            envelope = min(1.0, t / 0.005) * math.exp(-4.0 * t)  # 5 ms attack: no click
            tone = sum(a * math.sin(2 * math.pi * freq * k * t) for k, a in ((1, 0.7), (2, 0.2), (3, 0.1)))
            mix[first + i] += envelope * tone
    return array("h", (max(-32767, min(32767, int(v * 0.45 * 32767))) for v in mix))


def silence(seconds: float, rate: int) -> array:
    """``seconds`` of 16-bit silence at ``rate``."""
    return array("h", bytes(2 * int(seconds * rate)))


def read_wav(path: Path) -> tuple[array, int]:
    """The samples and rate of a mono 16-bit WAV file."""
    with wave.open(str(path), "rb") as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
            raise ValueError(f"{path} is not mono 16-bit")
        samples = array("h")
        samples.frombytes(wav.readframes(wav.getnframes()))
        return samples, wav.getframerate()


def write_wav(path: Path, samples: array, rate: int) -> Path:
    """Write mono 16-bit samples; via a temporary file, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    os.replace(tmp, path)
    return path


class Announcer:
    """Turns calling queue events into announcement WAVs in ``out_dir`` and plays them; a `run_consumer` handler."""

    def __init__(self, speaker: Speaker | None, out_dir: Path, *, repeat: int = 2, pause_s: float = 0.8) -> None:
        """``repeat``: times the sentence is spoken; ``pause_s``: seconds of silence between them."""
        self.speaker, self.out_dir = speaker, Path(out_dir)
        self.repeat, self.pause_s = max(1, repeat), pause_s
        self.announced: list[Path] = []
        """The WAV written for each call, in order (the chime alone when there is no speech)."""
        self.timings: list[float] = []
        """Seconds from `handle` being called to its WAV being ready, per announcement."""
        self._speech: bool | None = None

    @property
    def speaks(self) -> bool:
        """Whether speech is available (decided on first use, then kept)."""
        if self._speech is None:
            self._speech = self.speaker is not None and self.speaker.available()
            if not self._speech:
                log.warning("announcements without speech: a chime and a text file per call in %s", self.out_dir)
        return self._speech

    def handle(self, event: QueueEvent) -> Path | None:
        """Announce ``event`` if it calls someone (returns the WAV); other events are ignored (None)."""
        if not event.calls_someone:
            return None
        assert event.number is not None and event.window is not None
        started = time.monotonic()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        sentence = announcement(event.number, event.window)
        path = self.out_dir / f"{event.id}-{_UNSAFE.sub('_', event.number)}.wav"
        if not (self.speaks and self._render(sentence, path)):
            write_wav(path, chime(), CHIME_RATE)
            path.with_suffix(".txt").write_text(sentence + "\n", encoding="utf-8")
            log.info("call %s → window %s: chime and text only (%s)", event.number, event.window, path.name)
        elapsed = time.monotonic() - started
        self.announced.append(path)
        self.timings.append(elapsed)
        log.info("announcement %s ready in %.3f s: %s", path.name, elapsed, sentence)
        if self.speaker is not None:
            self.speaker.play(path)  # queued behind earlier announcements; no sound card is logged once
        return path

    def _render(self, sentence: str, path: Path) -> bool:
        """Chime, then the sentence ``repeat`` times, into ``path``; False (logged) if speech failed this time."""
        assert self.speaker is not None
        spoken = path.with_name(f".{path.stem}.speech.wav")
        try:
            speech, rate = read_wav(self.speaker.to_wav(sentence, spoken))
        except Exception as exc:
            log.warning("could not render %r: %s", sentence, exc)
            return False
        finally:
            spoken.unlink(missing_ok=True)
        samples = chime(rate) + silence(0.3, rate)
        for i in range(self.repeat):
            samples += speech if i == 0 else silence(self.pause_s, rate) + speech
        write_wav(path, samples, rate)
        return True
