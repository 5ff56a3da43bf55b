"""Sound in for the live voice counter: a microphone through PortAudio (the `sounddevice` package on ALSA, or on
PulseAudio / PipeWire through their ALSA plugins), or a WAV file standing in for one.

Why it is built this way:

- Every source hands out the same thing: blocks of `BLOCK_MS` of 16 kHz mono 16-bit PCM, the format webrtcvad and
  vosk share, so the counter's loop never asks where sound comes from. A block of 30 ms is one webrtcvad frame.
- The microphone is read in PortAudio's callback, which only queues the bytes. The counter stops reading while it
  recognises and asks the bot (a second or two); a blocking read would overflow PortAudio's buffer and lose the
  start of the resident's next sentence, the queue loses nothing (up to `MAX_BEHIND_S`).
- Many sound cards do not capture at 16 kHz. The stream is opened at 16 kHz first (ALSA's ``plug`` layer and
  PulseAudio convert); where the device refuses, it is opened at its own rate and each block is resampled.
- `sounddevice` loads PortAudio when imported, so it is imported only when a microphone is opened: the counter's
  file mode and the tests of everything else run on machines without libportaudio2.
"""

from __future__ import annotations

import contextlib
import logging
import queue
from pathlib import Path
from typing import Any, Protocol

from voice.audio import RATE, Pcm, read_wav, resample

log = logging.getLogger(__name__)

BLOCK_MS = 30
"""Length of one block of sound: one webrtcvad frame."""
BLOCK_BYTES = RATE * BLOCK_MS // 1000 * 2
"""Bytes in one block at 16 kHz, 16-bit mono."""
MAX_BEHIND_S = 20
"""Sound kept waiting for the counter at most; anything newer is dropped (and counted), so a stalled counter
cannot fill the memory. The oldest sound is kept: it holds the start of what the resident said."""


class SoundDeviceUnavailable(RuntimeError):
    """No microphone or loudspeaker can be opened here (no such device, or PortAudio is missing)."""


class SoundInput(Protocol):
    """Where the counter's sound comes from."""

    def read(self, timeout_s: float) -> bytes | None:
        """The next block (`BLOCK_BYTES` of 16 kHz mono PCM); b"" when none came within ``timeout_s``; None at the
        end of the sound (a file read to its end, a closed microphone)."""
        ...

    def close(self) -> None: ...


class Microphone:
    """A live microphone, opened at once; ``device`` is a PortAudio device name or index (None: the default)."""

    def __init__(self, device: str | int | None = None) -> None:
        try:
            import sounddevice
        except OSError as exc:  # the package is there but libportaudio2 is not
            raise SoundDeviceUnavailable(f"找不到声卡驱动 PortAudio / PortAudio is not installed ({exc})") from exc
        self._blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=MAX_BEHIND_S * 1000 // BLOCK_MS)
        self._pending = b""
        self._closed = False
        self._stream = self._open(sounddevice, device)
        self.rate = int(self._stream.samplerate)
        self.overflows = 0
        """Blocks lost: PortAudio reported an overflow, or the counter was `MAX_BEHIND_S` behind."""
        self._stream.start()
        log.info("microphone %s open at %d Hz", device if device is not None else "(default)", self.rate)

    def _open(self, sounddevice: Any, device: str | int | None) -> Any:
        try:
            info = sounddevice.query_devices(device, "input")
        except (ValueError, sounddevice.PortAudioError) as exc:
            raise SoundDeviceUnavailable(f"没有找到麦克风 / no microphone found ({exc})") from exc
        last_error: Exception | None = None
        for rate in dict.fromkeys((RATE, int(info["default_samplerate"]))):
            try:
                return sounddevice.RawInputStream(
                    samplerate=rate,
                    channels=1,
                    dtype="int16",
                    device=device,
                    blocksize=rate * BLOCK_MS // 1000,
                    callback=self._on_sound,
                )
            except sounddevice.PortAudioError as exc:
                last_error = exc
        raise SoundDeviceUnavailable(f"麦克风打不开 / the microphone could not be opened ({last_error})")

    def _on_sound(self, data: Any, frames: int, time_info: Any, status: Any) -> None:
        if status.input_overflow:
            self.overflows += 1
        try:
            self._blocks.put_nowait(bytes(data))
        except queue.Full:
            self.overflows += 1

    def read(self, timeout_s: float) -> bytes | None:
        while len(self._pending) < BLOCK_BYTES:
            try:
                chunk = self._blocks.get(timeout=timeout_s)
            except queue.Empty:
                return None if self._closed else b""
            if chunk is None:
                return None
            if self.rate != RATE:
                chunk = resample(Pcm(chunk, self.rate), RATE).samples
            self._pending += chunk
        block, self._pending = self._pending[:BLOCK_BYTES], self._pending[BLOCK_BYTES:]
        return block

    def close(self) -> None:
        self._closed = True
        self._stream.stop()
        self._stream.close()
        with contextlib.suppress(queue.Full):
            self._blocks.put_nowait(None)


class WavInput:
    """A WAV file (or sound) played into the counter as if spoken into its microphone, as fast as it is read;
    ``then_silence_s`` of silence follows it, as in a quiet hall. For the file mode, the tests and the bench."""

    def __init__(self, source: Path | str | Pcm, *, then_silence_s: float = 1.0) -> None:
        pcm = source if isinstance(source, Pcm) else read_wav(source)
        pcm = resample(pcm, RATE)
        self._samples = pcm.samples + bytes(BLOCK_BYTES * round(then_silence_s * 1000 / BLOCK_MS))
        self._offset = 0

    @property
    def position_s(self) -> float:
        """Seconds of the sound already handed out: the microphone's clock."""
        return self._offset / 2 / RATE

    def read(self, timeout_s: float) -> bytes | None:
        if self._offset + BLOCK_BYTES > len(self._samples):
            return None
        block = self._samples[self._offset : self._offset + BLOCK_BYTES]
        self._offset += BLOCK_BYTES
        return block

    def close(self) -> None:
        self._offset = len(self._samples)
