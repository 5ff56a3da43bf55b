"""Speech through pyttsx3 and espeak-ng's Mandarin voice: durations, rate, phonemes, threads, no sound card."""

from __future__ import annotations

import logging
import re
import shutil
import threading
from pathlib import Path

import pytest

from voice import tts
from voice.tts import Speaker, TtsUnavailableError, phonemes, wav_duration

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

SENTENCE = "请A012号到3号窗口办理"


@pytest.fixture(scope="module")
def speaker():
    with Speaker() as speaker:
        yield speaker


def test_the_mandarin_voice_is_available(speaker):
    assert speaker.available()
    assert not Speaker(voice="xx-no-such-voice").available()


def test_a_sentence_renders_to_a_plausible_wav(speaker, tmp_path):
    path = speaker.to_wav(SENTENCE, tmp_path / "call.wav")
    assert path == tmp_path / "call.wav"
    assert 1.0 < wav_duration(path) < 8.0


def test_a_slower_rate_gives_a_longer_file(tmp_path):
    slow = wav_duration(Speaker(rate=100).to_wav(SENTENCE, tmp_path / "slow.wav"))
    fast = wav_duration(Speaker(rate=200).to_wav(SENTENCE, tmp_path / "fast.wav"))
    default = wav_duration(Speaker().to_wav(SENTENCE, tmp_path / "default.wav"))
    assert slow > default > fast
    assert slow > 1.5 * fast


def test_rates_alternating_on_the_shared_engine_are_each_applied(tmp_path):
    """pyttsx3's own rate property races espeak's thread; each request must still get its own rate."""
    slow, fast = Speaker(rate=100), Speaker(rate=200)
    durations = {
        (name, i): wav_duration(s.to_wav("请到3号窗口", tmp_path / f"{name}{i}.wav"))
        for i in range(4)
        for name, s in (("slow", slow), ("fast", fast))
    }
    assert min(d for (name, _), d in durations.items() if name == "slow") > 1.4 * max(
        d for (name, _), d in durations.items() if name == "fast"
    )


def test_phonemes_are_mandarin_syllables_with_tones():
    said = phonemes("请到3号窗口")
    syllables = [s.strip() for s in said.split("_|") if s.strip()]
    assert len(syllables) == 6  # 请 到 三 号 窗 口
    assert all(re.search(r"[1-5]{2,3}", s) for s in syllables), said  # each has its tone contour: i21, Au51, ou214
    assert "s'a55n" in said  # 3 is read sān (tone 1) …
    assert "Tr" not in said and "(en)" not in said  # … not the English "three"


def test_one_speaker_from_many_threads_produces_every_file(speaker, tmp_path):
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(3):
                speaker.to_wav(f"请 A 零 零 {n} 号到 {i + 1} 号窗口办理", tmp_path / f"{n}-{i}.wav")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    files = sorted(tmp_path.glob("*.wav"))
    assert len(files) == 18
    assert all(1.0 < wav_duration(f) < 8.0 for f in files)


def test_an_unknown_voice_fails_clearly(tmp_path):
    with pytest.raises(TtsUnavailableError, match="xx-no-such-voice"):
        Speaker(voice="xx-no-such-voice").to_wav("你好", tmp_path / "x.wav")


def test_control_characters_cannot_smuggle_espeak_commands(speaker, tmp_path):
    """\\x01 starts an espeak embedded command (that is how the rate is passed); text must not carry its own."""
    read_out = wav_duration(speaker.to_wav("80S 请到3号窗口", tmp_path / "read_out.wav"))
    smuggled = wav_duration(speaker.to_wav("\x0180S请到3号窗口", tmp_path / "smuggled.wav"))
    assert smuggled == pytest.approx(read_out, abs=0.2)  # "80S" is read out, not obeyed (rate 80 would be ~2x)


def test_saying_without_a_sound_card_logs_once_and_keeps_working(monkeypatch, caplog, tmp_path):
    monkeypatch.setattr(tts, "PLAYERS", (("false",),))  # a "player" that always fails, like aplay with no card
    monkeypatch.setattr(tts, "_player", None)  # a fresh player thread, which has not warned yet
    speaker = Speaker()
    with caplog.at_level(logging.WARNING, logger="voice.tts"):
        assert speaker.say("请到3号窗口").result(10) is False
        assert speaker.say("请到4号窗口").result(10) is False
    assert len([r for r in caplog.records if "audio output unavailable" in r.message]) == 1
    assert speaker.to_wav("请到5号窗口", tmp_path / "after.wav").exists()  # rendering is unaffected
    assert not list(Path(tts.tempfile.gettempdir()).glob("jiujin-say-*.wav"))  # temporary files are removed


def test_a_closed_speaker_refuses(tmp_path):
    speaker = Speaker()
    speaker.to_wav("你好", tmp_path / "a.wav")
    speaker.close()
    with pytest.raises(RuntimeError, match="closed"):
        speaker.to_wav("你好", tmp_path / "b.wav")
