"""`voice.transcode` with the real ffmpeg: WeChat's AMR-NB voice notes, speex, mp3 and wav become 16 kHz mono PCM;
bytes that are not audio, and a missing ffmpeg, are refused plainly.

The AMR note (data/ne.amr) is espeak-ng's Korean "네" (``espeak-ng -v ko -s 120``) encoded by Debian's ffmpeg with
the ``libopencore_amrnb`` encoder at 12.2 kbit/s (``-ar 8000 -ac 1 -c:a libopencore_amrnb -b:a 12.2k``). That encoder
is only in Debian's libavcodec-extra, which ``make system`` does not install, so the note is kept as a file; the
other formats are encoded here with the encoders of Debian's plain ffmpeg.
(Here rather than in tests/voice/, which other work holds for now.)
"""

from __future__ import annotations

import shutil
import subprocess
from array import array
from pathlib import Path

import pytest

from voice.audio import RATE, Pcm, duration_s, read_wav
from voice.transcode import AudioTooLarge, DecoderUnavailable, NotAudio, decode, ffmpeg_path

pytestmark = [
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (make system)"),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make system)"),
]

NE_AMR = Path(__file__).parent / "data" / "ne.amr"


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """espeak-ng's Korean "네" as a WAV file (22 050 Hz, as espeak writes it)."""
    path = tmp_path_factory.mktemp("speech") / "ne.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "120", "-w", str(path), "네"], check=True, timeout=30)
    return path


def encode(wav: Path, *options: str, suffix: str) -> bytes:
    """``wav`` encoded by Debian's ffmpeg with ``options``."""
    out = wav.with_name(f"encoded{suffix}")
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav), *options, str(out)]
    subprocess.run(command, check=True, timeout=30)
    return out.read_bytes()


def peak(pcm: Pcm) -> int:
    return max(abs(v) for v in array("h", pcm.samples))


def test_a_wechat_voice_note_in_amr_nb_becomes_16_khz_pcm(spoken: Path) -> None:
    note = NE_AMR.read_bytes()
    assert note.startswith(b"#!AMR\n")  # AMR-NB's storage format, as WeChat's Format=amr notes are
    pcm = decode(note)
    assert pcm.rate == RATE == 16000
    assert len(pcm.samples) % 2 == 0
    assert duration_s(pcm) == pytest.approx(duration_s(read_wav(spoken)), abs=0.1)
    assert peak(pcm) > 1000  # speech, not silence


@pytest.mark.parametrize(
    ("options", "suffix"),
    [
        (("-ar", "16000", "-c:a", "libspeex"), ".spx"),  # speex in Ogg, WeChat's other voice format
        (("-c:a", "libmp3lame", "-b:a", "32k"), ".mp3"),
        (("-ar", "44100", "-ac", "2"), ".wav"),  # stereo 44.1 kHz: mixed down and resampled
    ],
)
def test_speex_mp3_and_wav_become_16_khz_mono_pcm(spoken: Path, options: tuple[str, ...], suffix: str) -> None:
    pcm = decode(encode(spoken, *options, suffix=suffix))
    assert pcm.rate == 16000
    assert duration_s(pcm) == pytest.approx(duration_s(read_wav(spoken)), abs=0.1)
    assert peak(pcm) > 1000


def test_long_sound_is_cut_at_the_limit(spoken: Path) -> None:
    assert duration_s(decode(NE_AMR.read_bytes(), max_seconds=0.5)) == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize(
    "data",
    [
        b"this is not a voice note, only text " * 50,
        bytes(range(256)) * 20,
        b"\x89PNG\r\n\x1a\n" + bytes(500),  # a picture
        b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n",  # a playlist naming a local file: never opened
        b"",
    ],
    ids=["text", "bytes", "png", "playlist", "empty"],
)
def test_bytes_that_are_not_audio_are_refused(data: bytes) -> None:
    with pytest.raises(NotAudio):
        decode(data)


def test_too_large_input_is_refused_before_ffmpeg_runs() -> None:
    with pytest.raises(AudioTooLarge):
        decode(NE_AMR.read_bytes(), max_bytes=100, ffmpeg="/nonexistent/ffmpeg")


def test_a_missing_ffmpeg_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(DecoderUnavailable, match="ffmpeg could not be run"):
        decode(NE_AMR.read_bytes(), ffmpeg=str(tmp_path / "ffmpeg"))
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without Debian's ffmpeg
    assert ffmpeg_path() is None
    with pytest.raises(DecoderUnavailable, match="ffmpeg is not installed"):
        decode(NE_AMR.read_bytes())


def test_ffmpeg_that_takes_too_long_is_stopped() -> None:
    with pytest.raises(DecoderUnavailable, match="did not finish"):
        decode(NE_AMR.read_bytes(), timeout_s=0.001)
