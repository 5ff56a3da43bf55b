"""Utterance splitting with webrtcvad on speech synthesised by espeak-ng: pauses, silence, clicks, streaming."""

from __future__ import annotations

import shutil
import struct
import subprocess
import wave
from array import array
from pathlib import Path

import pytest

from voice.audio import Pcm, concat, duration_s, read_wav, silence, write_wav
from voice.vad import Utterances

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def speak(text: str, path: Path, voice: str = "cmn-latn-pinyin") -> Pcm:
    """``text`` spoken by espeak-ng, read back as 16 kHz mono, without the ~0.4 s of silence espeak ends it with.

    Trimmed so that the pauses the tests put between phrases are the real gaps.
    """
    subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", str(path), text], check=True, timeout=30)
    pcm = read_wav(path)
    samples = array("h", pcm.samples)
    loud = [i for i, value in enumerate(samples) if abs(value) > 64]
    return Pcm(samples[loud[0] : loud[-1] + 1].tobytes(), pcm.rate)


@pytest.fixture(scope="module")
def two_phrases(tmp_path_factory) -> Pcm:
    """Two Mandarin requests with 1.5 s of silence between them, written to a file and read back."""
    folder = tmp_path_factory.mktemp("vad")
    first = speak("我想办居住证", folder / "first.wav")
    second = speak("请到三号窗口", folder / "second.wav")
    joined = concat(silence(0.5), first, silence(1.5), second, silence(0.5))
    return read_wav(write_wav(folder / "both.wav", joined))


def test_two_phrases_with_a_long_pause_are_two_utterances(two_phrases):
    found = Utterances().split(two_phrases)
    assert len(found) == 2
    for utterance in found:
        assert utterance.rate == 16000
        assert 0.5 < duration_s(utterance) < 3.0
    assert sum(duration_s(u) for u in found) < duration_s(two_phrases) - 1.5


def test_a_short_pause_does_not_end_the_utterance(tmp_path):
    """Elderly speakers pause mid-sentence: 500 ms must not cut the request in two (700 ms does)."""
    phrase = speak("我想办居住证", tmp_path / "phrase.wav")
    assert len(Utterances().split(concat(silence(0.3), phrase, silence(0.5), phrase, silence(0.3)))) == 1
    assert len(Utterances().split(concat(silence(0.3), phrase, silence(0.9), phrase, silence(0.3)))) == 2


def test_silence_has_no_utterance():
    assert Utterances().split(silence(3.0)) == []


def test_a_click_is_not_an_utterance():
    click = array("h", [12000 if i % 20 < 10 else -12000 for i in range(1600)]).tobytes()  # 100 ms, 800 Hz square
    pcm = concat(silence(1.0), Pcm(click, 16000), silence(1.0))
    assert Utterances().split(pcm) == []
    assert len(Utterances(min_speech_ms=30).split(pcm)) == 1  # webrtcvad does call it speech: the length rule drops it


def test_feeding_odd_chunks_gives_what_split_gives(two_phrases):
    expected = Utterances().split(two_phrases)
    stream, found = Utterances(), []
    data = two_phrases.samples
    for start in range(0, len(data), 37):
        found.extend(stream.feed(data[start : start + 37]))
    found.extend(stream.flush())
    assert found == expected
    assert stream.flush() == []


def test_flush_returns_an_utterance_cut_off_by_the_end_of_the_stream(two_phrases):
    stream = Utterances()
    half = len(two_phrases.samples) // 2
    assert stream.feed(two_phrases.samples[:half]) != []  # the first phrase ended in the 1.5 s pause
    end = two_phrases.samples[half:]
    cut = end[: len(end) - int(0.5 * 16000 * 2) - 4000]  # stops inside the second phrase
    assert stream.feed(cut) == []
    assert len(stream.flush()) == 1


def test_other_rates_are_refused(two_phrases):
    with pytest.raises(ValueError, match="22050"):
        Utterances().split(Pcm(two_phrases.samples, 22050))
    with pytest.raises(ValueError):
        Utterances(frame_ms=25)


def test_read_wav_mixes_stereo_and_resamples(tmp_path):
    """The audio module under the splitter: any 16-bit PCM WAV comes back as 16 kHz mono."""
    left = array("h", [1000, 3000] * 11025)  # 1 s at 22.05 kHz
    stereo = array("h", [v for sample in left for v in (sample, -sample + 2000)])
    with wave.open(str(tmp_path / "stereo.wav"), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(22050)
        wav.writeframes(stereo.tobytes())
    pcm = read_wav(tmp_path / "stereo.wav")
    assert pcm.rate == 16000 and duration_s(pcm) == pytest.approx(1.0, abs=0.001)
    assert set(array("h", pcm.samples)) == {1000}  # (x + 2000 - x) / 2 whatever the interpolation


@pytest.mark.parametrize("width", [1, 3])
def test_read_wav_refuses_8_and_24_bit(tmp_path, width):

    with wave.open(str(tmp_path / "odd.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(width)
        wav.setframerate(16000)
        wav.writeframes(bytes(width * 1600))
    with pytest.raises(ValueError, match=f"{8 * width}-bit"):
        read_wav(tmp_path / "odd.wav")


def test_read_wav_refuses_float_samples(tmp_path):

    data = bytes(4 * 1600)
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)  # format 3: IEEE float
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    (tmp_path / "float.wav").write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    with pytest.raises(ValueError, match="not a PCM WAV"):
        read_wav(tmp_path / "float.wav")
