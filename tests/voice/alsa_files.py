"""A sound card made of files, for tests of the real PortAudio → ALSA path on machines without one.

ALSA's ``file`` plugin in front of its ``null`` device: capture reads ``infile`` (raw 16 kHz mono 16-bit PCM, then
silence), playback is written to ``file``. PortAudio lists it as an ordinary ALSA device named `DEVICE`. The null
device keeps no time, so sound flows as fast as it is read: these tests check bytes, not timing.

PortAudio reads the configuration once, when `sounddevice` is imported, so the code under test runs in a process of
its own with `environment`.
"""

from __future__ import annotations

import os
from pathlib import Path

DEVICE = "jiujin_sound"


def sound_card(folder: Path, said: bytes) -> tuple[dict[str, str], Path]:
    """The environment for a process whose sound card is ``said`` in and a file out; and that file."""
    folder.mkdir(parents=True, exist_ok=True)
    infile, outfile = folder / "microphone.raw", folder / "loudspeaker.raw"
    infile.write_bytes(said)
    outfile.write_bytes(b"")
    config = folder / "asound.conf"
    config.write_text(
        "</usr/share/alsa/alsa.conf>\n"
        f"pcm.{DEVICE} {{\n"
        "  type file\n"
        '  slave.pcm "null"\n'
        f'  file "{outfile}"\n'
        f'  infile "{infile}"\n'
        '  format "raw"\n'
        '  hint { show on description "jiujin test sound card (files)" }\n'
        "}\n"
    )
    return os.environ | {"ALSA_CONFIG_PATH": str(config)}, outfile
