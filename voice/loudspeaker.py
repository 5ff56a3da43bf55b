"""Sound out for the live voice counter: the answer played through PortAudio, and stopped the moment the resident
speaks over it (barge-in).

Why it is built this way:

- The announcer (`voice.tts.Speaker.say`) plays whole files with aplay and cannot be interrupted; the counter must
  stop mid-word when a resident starts talking, so its answers are written to the sound card here, one 30 ms block
  at a time, with a check for "stop" between blocks. `stop` also aborts the stream, which drops what the card has
  buffered: the answer goes quiet within a block or two, not after the card's buffer has drained.
- Playing runs on its own thread, so the counter keeps listening (for barge-in) while it talks.
- `sounddevice` is imported only when a loudspeaker is opened (see `voice.microphone`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from voice.audio import Pcm
from voice.microphone import BLOCK_MS, SoundDeviceUnavailable

log = logging.getLogger(__name__)


class SoundOutput(Protocol):
    """Where the counter's answers are played."""

    def play(self, pcm: Pcm) -> None:
        """Start playing ``pcm`` (stopping what was playing); returns at once."""
        ...

    def stop(self) -> bool:
        """Stop playing at once; True when something was playing."""
        ...

    @property
    def playing(self) -> bool: ...

    def close(self) -> None: ...


class Loudspeaker:
    """The counter's loudspeaker; ``device`` is a PortAudio device name or index (None: the default)."""

    def __init__(self, device: str | int | None = None) -> None:
        try:
            import sounddevice
        except OSError as exc:
            raise SoundDeviceUnavailable(f"找不到声卡驱动 PortAudio / PortAudio is not installed ({exc})") from exc
        try:
            sounddevice.query_devices(device, "output")
        except (ValueError, sounddevice.PortAudioError) as exc:
            raise SoundDeviceUnavailable(f"没有找到扬声器 / no loudspeaker found ({exc})") from exc
        self._sounddevice, self._device = sounddevice, device
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: Any = None

    @property
    def playing(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def play(self, pcm: Pcm) -> None:
        self.stop()
        with self._lock:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(pcm, self._stop), name="counter-speaker")
            self._thread.start()

    def stop(self) -> bool:
        with self._lock:
            thread, stream = self._thread, self._stream
            was_playing = thread is not None and thread.is_alive()
            self._stop.set()
            if was_playing and stream is not None:
                stream.abort()  # drop what the card has buffered: quiet now, not when the buffer drains
        if thread is not None:
            thread.join(timeout=2)
        return was_playing

    def close(self) -> None:
        self.stop()

    def _run(self, pcm: Pcm, stop: threading.Event) -> None:
        block = pcm.rate * BLOCK_MS // 1000 * 2
        try:
            stream = self._sounddevice.RawOutputStream(
                samplerate=pcm.rate, channels=1, dtype="int16", device=self._device
            )
            with self._lock:
                if stop.is_set():
                    stream.close()
                    return
                self._stream = stream
            stream.start()
            for start in range(0, len(pcm.samples), block):
                if stop.is_set():
                    break
                stream.write(pcm.samples[start : start + block])
            if not stop.is_set():
                stream.stop()  # lets the last blocks play out
        except self._sounddevice.PortAudioError as exc:
            if not stop.is_set():  # an aborted stream complains about the write it interrupted
                log.warning("the counter's loudspeaker failed: %s", exc)
        finally:
            with self._lock:
                stream, self._stream = self._stream, None
            if stream is not None:
                stream.close(ignore_errors=True)
