"""Announcements: which events are spoken, how a ticket number is read, the WAV (chime, sentence twice), no TTS."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest

from devices.announcer import CHIME_RATE, Announcer, announcement, chime, read_wav, spoken_number
from devices.queue_events import CALLS, Board, QueueEvent
from voice.tts import Speaker, phonemes, wav_duration

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
BOARD = Board(calling=[{"window": 3, "number": "A012"}], next={"A": ["A013"]}, waiting={"A": 5})


def event(kind: str = "called", number: str | None = "A012", window: int | None = 3, id: int = 7) -> QueueEvent:
    return QueueEvent(id=id, kind=kind, number=number, window=window, board=BOARD)


@pytest.fixture(scope="module")
def speaker():
    with Speaker() as speaker:
        yield speaker


def test_numbers_are_spelled_digit_by_digit_in_chinese():
    assert spoken_number("A012") == "A 零 一 二"
    assert spoken_number("V1000") == "V 一 零 零 零"
    assert announcement("A012", 3) == "请 A 零 一 二 号到 3 号窗口办理"


@needs_espeak
def test_espeak_reads_the_spelled_number_naturally():
    """Written "A012", espeak says A 零十二 (the number twelve); spelled, it says A 零 一 二."""
    assert "s.i.35" in phonemes("请 A012 号")  # 十: why the number is spelled
    said = phonemes(announcement("A012", 3))
    assert "'ei51_| l'i35N_| j'i55_| '@r51_|" in said  # A líng yī èr
    assert "s.i.35" not in said
    assert "s'a55n_| X'Au51" in said  # 3 号: sān hào


@needs_espeak
def test_a_call_becomes_a_chime_and_the_sentence_twice(speaker, tmp_path):
    announcer = Announcer(speaker, tmp_path)
    path = announcer.handle(event())
    assert path == tmp_path / "7-A012.wav"
    assert announcer.announced == [path]
    single = wav_duration(speaker.to_wav(announcement("A012", 3), tmp_path / "single.wav"))
    samples, rate = read_wav(path)
    ding = chime(rate)
    assert samples[: len(ding)] == ding  # the chime comes first
    assert wav_duration(path) > len(ding) / rate + 2 * single - 0.2  # then the sentence, spoken twice
    assert not list(tmp_path.glob(".*"))  # no temporary files left
    assert announcer.timings[0] < 2.0


@needs_espeak
def test_repeat_sets_how_often_the_sentence_is_spoken(speaker, tmp_path):
    once = wav_duration(Announcer(speaker, tmp_path / "1", repeat=1).handle(event()))
    thrice = wav_duration(Announcer(speaker, tmp_path / "3", repeat=3).handle(event()))
    single = wav_duration(speaker.to_wav(announcement("A012", 3), tmp_path / "single.wav"))
    assert thrice - once == pytest.approx(2 * (single + 0.8), abs=0.3)


@pytest.mark.parametrize("kind", sorted(CALLS))
def test_every_kind_of_call_is_announced(kind, tmp_path):
    assert Announcer(None, tmp_path).handle(event(kind)) is not None


@pytest.mark.parametrize(
    "quiet",
    [
        *(event(kind) for kind in ("taken", "skipped", "transferred", "paused", "resumed") if kind not in CALLS),
        event("called", None, 3),
        event("recalled", "A012", None),
    ],
)
def test_events_that_call_nobody_are_ignored(quiet, tmp_path):
    announcer = Announcer(None, tmp_path / "out")
    assert announcer.handle(quiet) is None
    assert announcer.announced == []
    assert not (tmp_path / "out").exists()


def test_without_speech_the_chime_and_the_text_are_written(tmp_path):
    announcer = Announcer(None, tmp_path)
    path = announcer.handle(event(number="V003", window=12, id=9))
    assert path == tmp_path / "9-V003.wav"
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, CHIME_RATE)
    samples, _ = read_wav(path)
    assert samples == chime(CHIME_RATE)
    assert path.with_suffix(".txt").read_text(encoding="utf-8") == "请 V 零 零 三 号到 12 号窗口办理\n"


class SpeakerWithoutSpeech:
    """A sound card but no Mandarin voice: it plays what it is given and cannot render speech."""

    def __init__(self) -> None:
        self.played: list[Path] = []

    def available(self) -> bool:
        return False

    def play(self, path: Path) -> None:
        self.played.append(Path(path))


def test_without_speech_the_chime_still_rings_in_the_hall(tmp_path):
    speaker = SpeakerWithoutSpeech()
    announcer = Announcer(speaker, tmp_path)  # type: ignore[arg-type]
    path = announcer.handle(event(number="A004", window=2, id=3))
    assert speaker.played == [path]
    assert read_wav(path)[0] == chime(CHIME_RATE)
    assert path.with_suffix(".txt").read_text(encoding="utf-8") == "请 A 零 零 四 号到 2 号窗口办理\n"


def test_a_speaker_without_the_voice_falls_back_to_the_chime(tmp_path):
    announcer = Announcer(Speaker(voice="xx-no-such-voice"), tmp_path)
    path = announcer.handle(event())
    assert wav_duration(path) == pytest.approx(1.5)
    assert path.with_suffix(".txt").exists()


def test_the_chime_rings_twice_and_fades():
    samples = chime(CHIME_RATE)
    window = CHIME_RATE // 20

    def loudness(at_s: float) -> float:
        start = int(at_s * CHIME_RATE)
        return max(abs(s) for s in samples[start : start + window])

    assert loudness(0.0) > 5000 and loudness(0.45) > loudness(0.4)  # ding, then dong
    assert loudness(1.4) < loudness(0.5) / 4  # and it fades out
    assert max(abs(s) for s in samples) < 32767  # no clipping
