"""The live voice counter: listen, understand, answer aloud, and stop answering when the resident speaks over it.

One loop reads the microphone a block (30 ms) at a time (`voice.microphone`) and, in one of two modes:

- **hands-free**: webrtcvad finds each utterance (`voice.vad.Utterances`: it ends after 700 ms of silence);
- **push-to-talk**: the resident holds the counter's button (or presses it once to start and once to finish): what
  is said in between is the utterance, trimmed to its speech.

Each utterance is recognised (`voice.recognizer`), answered by ``answer`` (whoever decides what to say: at the
counter, the counter service, which shares the session with the counter's screen) and spoken through the
loudspeaker (`voice.loudspeaker`). "重复" and the rest of the counter's words are the answerer's business.

Barge-in: while the answer plays, the microphone is still read. Its sound does not go to the recogniser (without
echo cancellation the counter would hear itself), only to `BargeIn`, which waits for a run of speech loud enough to
be the resident at the counter rather than the loudspeaker's echo or the hall. Then the answer stops and the
speech, from a little before the run began, becomes the next utterance: nothing the resident said is lost. In
push-to-talk mode, pressing the button stops the answer.

Why the loudness gate: where the loudspeaker and microphone are close, the answer's own echo is speech too. A
production counter should also run PulseAudio / PipeWire echo cancellation (module-echo-cancel) in front of this;
``VOICE_BARGE_IN_RMS`` sets the gate for the room.
"""

from __future__ import annotations

import logging
import math
import queue
import tempfile
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Protocol

import webrtcvad

from voice.audio import RATE, Pcm, concat, read_wav
from voice.loudspeaker import SoundOutput
from voice.microphone import BLOCK_MS, SoundInput
from voice.recognizer import Heard
from voice.vad import Utterances

log = logging.getLogger(__name__)

BARGE_IN_MS = 300
"""Speech over the answer that stops it: long enough to ignore a cough or a chair, short enough to feel instant."""
BARGE_IN_RMS = 500
"""Loudness (root mean square of 16-bit samples) a block must reach to count towards barge-in; a resident at the
counter's microphone measures several thousand, the hall a few hundred."""
PREROLL_MS = 600
"""Sound kept from before barge-in fired, so the first syllables of the interruption reach the recogniser."""


class Mode(Enum):
    HANDS_FREE = "hands-free"
    PUSH_TO_TALK = "push-to-talk"


class Hears(Protocol):
    def recognize(self, pcm: Pcm) -> Heard: ...


class Voices(Protocol):
    def to_wav(self, text: str, path: Path | str) -> Path: ...


class Answered(Protocol):
    """What an answer must carry: the texts to say, and what was heard with what confidence (for the log)."""

    heard: str | None
    replies: list[str]
    confidence: float


Answer = Callable[[str | None, float], Answered]
"""The decision on what was heard (text or None for nothing understood, and the confidence)."""


def rms(block: bytes) -> float:
    """Loudness of 16-bit little-endian samples."""
    samples = array("h", block[: len(block) - len(block) % 2])
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


class BargeIn:
    """Decides, while the counter talks, that the resident has started speaking over it."""

    def __init__(self, *, after_ms: int = BARGE_IN_MS, min_rms: float = BARGE_IN_RMS) -> None:
        self._vad = webrtcvad.Vad(3)  # the strictest: only clear speech may cut the answer short
        self._needed = max(after_ms // BLOCK_MS, 1)
        self._min_rms = min_rms
        self._run = 0
        self.preroll: deque[bytes] = deque(maxlen=PREROLL_MS // BLOCK_MS)
        """The latest blocks heard while the answer played."""

    def feed(self, block: bytes) -> bool:
        """Take one block; True when the resident is speaking over the answer."""
        self.preroll.append(block)
        loud = rms(block) >= self._min_rms
        self._run = self._run + 1 if loud and self._vad.is_speech(block, RATE) else 0
        return self._run >= self._needed

    def reset(self) -> None:
        self._run = 0
        self.preroll.clear()


@dataclass
class LiveTurn:
    """One exchange, as the loop saw it (for the log, the tests and the bench)."""

    turn: Answered
    heard: Heard | None
    spoken_at: float
    """`time.monotonic()` when the answer started to play."""
    speech_ended_at: float
    """`time.monotonic()` when the utterance was complete (the end of silence, or the button released)."""


@dataclass
class LiveStats:
    turns: list[LiveTurn] = field(default_factory=list)
    barge_ins: int = 0


class LiveCounter:
    """The loop of a counter with a microphone and a loudspeaker. `run` blocks; `press` / `release` (push-to-talk)
    and `speak` may be called from other threads."""

    def __init__(
        self,
        source: SoundInput,
        output: SoundOutput,
        recognizer: Hears,
        answer: Answer,
        voice: Voices,
        *,
        mode: Mode = Mode.HANDS_FREE,
        barge_in: BargeIn | None = None,
        on_turn: Callable[[LiveTurn], None] | None = None,
    ) -> None:
        self.source, self.output, self.recognizer, self.answer, self.voice = source, output, recognizer, answer, voice
        self.mode = mode
        self.barge_in = barge_in or BargeIn()
        self.on_turn = on_turn
        self.stats = LiveStats()
        self._utterances = Utterances()
        self._buttons: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._held: list[bytes] | None = None  # push-to-talk: the sound since the button went down
        self._files = tempfile.TemporaryDirectory(prefix="jiujin-counter-")

    # --- called from other threads ---------------------------------------------------------------------------
    def press(self) -> None:
        self._buttons.put(True)

    def release(self) -> None:
        self._buttons.put(False)

    def toggle(self) -> None:
        """One press of a button that is not held (a key): start talking, or finish."""
        self._buttons.put(self._held is None)

    def speak(self, replies: list[str]) -> None:
        """Say ``replies`` (replacing what is being said)."""
        text = "。".join(r.strip() for r in replies if r.strip())
        if not text:
            return
        path = Path(self._files.name) / f"{threading.get_ident()}.wav"
        self.output.play(read_wav(self.voice.to_wav(text, path)))

    # --- the loop --------------------------------------------------------------------------------------------
    def run(self, *, stop: threading.Event | None = None, turns: int = 0) -> LiveStats:
        """Listen and answer until the sound ends, ``stop`` is set, or ``turns`` turns were answered (0: no limit)."""
        stop = stop or threading.Event()
        try:
            while not stop.is_set() and not (turns and len(self.stats.turns) >= turns):
                self._take_buttons()
                block = self.source.read(0.1)
                if block is None:
                    for utterance in self._utterances.flush():
                        self._respond(utterance)
                    break
                if block:
                    self._take(block)
        finally:
            self._files.cleanup()
        return self.stats

    def _take_buttons(self) -> None:
        while not self._buttons.empty():
            down = self._buttons.get()
            if down and self._held is None:
                if self.output.stop():
                    self.stats.barge_ins += 1
                self._held = []
            elif not down and self._held is not None:
                held, self._held = self._held, None
                said = Utterances().split(Pcm(b"".join(held), RATE))
                self._respond(concat(*said) if said else None)

    def _take(self, block: bytes) -> None:
        if self.mode is Mode.PUSH_TO_TALK:
            if self._held is not None:
                self._held.append(block)
            return
        if self.output.playing:
            if not self.barge_in.feed(block):
                return
            self.output.stop()
            self.stats.barge_ins += 1
            log.info("barge-in: the resident spoke over the answer")
            blocks = list(self.barge_in.preroll)
            self.barge_in.reset()
        else:
            self.barge_in.reset()
            blocks = [block]
        for each in blocks:
            for utterance in self._utterances.feed(each):
                self._respond(utterance)

    def _respond(self, utterance: Pcm | None) -> None:
        ended = time.monotonic()
        heard = self.recognizer.recognize(utterance) if utterance is not None else None
        turn = self.answer(heard.text if heard else None, heard.confidence if heard else 0.0)
        self.speak(turn.replies)
        live = LiveTurn(turn, heard, time.monotonic(), ended)
        self.stats.turns.append(live)
        if self.on_turn is not None:
            self.on_turn(live)
