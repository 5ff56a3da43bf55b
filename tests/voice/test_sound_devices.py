"""The microphone and the loudspeaker through the real PortAudio and ALSA, on a sound card made of files
(`tests.voice.alsa_files`): what is "said" arrives as 16 kHz blocks, what is played lands in the file; and without a
sound card both say so in plain words."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.voice.alsa_files import DEVICE, sound_card
from voice.audio import read_wav

pytest.importorskip("sounddevice", exc_type=OSError)  # libportaudio2 comes from `make system`

PROBE = """
import json, sys
from voice.audio import Pcm
from voice.loudspeaker import Loudspeaker
from voice.microphone import BLOCK_BYTES, Microphone

device, seconds = sys.argv[1], float(sys.argv[2])
microphone = Microphone(device)
blocks = []
while len(blocks) * 0.03 < seconds:
    block = microphone.read(2.0)
    assert block is not None and len(block) == BLOCK_BYTES, block
    blocks.append(block)
microphone.close()
heard = b"".join(blocks)
loudspeaker = Loudspeaker(device)
loudspeaker.play(Pcm(heard, 16000))
while loudspeaker.playing:
    pass
loudspeaker.close()
sys.stdout.buffer.write(heard)
"""


def test_the_microphone_reads_and_the_loudspeaker_plays_through_alsa(tmp_path: Path) -> None:
    said = _speech(tmp_path)
    env, played = sound_card(tmp_path / "card", said)
    seconds = len(said) / 32000 + 0.5
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, DEVICE, str(seconds)], env=env, capture_output=True, timeout=60
    )
    assert probe.returncode == 0, probe.stderr.decode()
    heard = probe.stdout
    assert heard[: len(said)] == said  # every byte said, in order, as 16 kHz blocks
    assert set(heard[len(said) :]) <= {0}  # then silence
    assert played.read_bytes() == heard  # and played back as it was given


def test_without_a_sound_card_the_counter_says_so(tmp_path: Path) -> None:
    env, _ = sound_card(tmp_path / "card", b"")
    probe = (
        "from voice.microphone import Microphone, SoundDeviceUnavailable\n"
        "try:\n    Microphone('no-such-card')\nexcept SoundDeviceUnavailable as exc:\n    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert "没有找到麦克风" in result.stdout, result.stderr


def _speech(folder: Path) -> bytes:
    path = folder / "said.wav"
    subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin", "-w", str(path), "我想办居住证"], check=True, timeout=30)
    return read_wav(path).samples
