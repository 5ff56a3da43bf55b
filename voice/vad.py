"""Cut a sound or a microphone stream into utterances with webrtcvad, so the recogniser hears one request at a time.

Why these defaults (`Utterances`):

- ``aggressiveness=2``: webrtcvad's 0–1 let the hall's chatter and chairs through as speech, 3 clips the quiet,
  breathy starts of elderly voices; 2 is the middle.
- ``frame_ms=30``: webrtcvad decides per 10, 20 or 30 ms frame; 30 ms frames give the steadiest decisions and we
  need no finer timing than that.
- ``end_silence_ms=700``: elderly residents often pause mid-sentence ("我想办……居住证") for 400–600 ms; ending an
  utterance at the first such pause would cut the request in half, while much longer makes the counter feel slow
  to answer.
- ``min_speech_ms=250``: coughs, door clicks and a tapped microphone give a few voiced frames; even the shortest
  command ("是", "重复") said slowly has more than 250 ms of speech.
- ``pad_ms=200``: the first and last consonants are quiet and often fall in frames webrtcvad calls silence, so each
  utterance keeps up to 200 ms of the sound on either side; the recogniser needs them.
"""

from __future__ import annotations

from collections import deque

import webrtcvad

from voice.audio import RATE, Pcm

VAD_RATES = (8000, 16000, 32000, 48000)
"""Sample rates webrtcvad accepts."""


class _Segmenter:
    """The state of one stream: frames in, finished utterances out."""

    def __init__(self, owner: Utterances) -> None:
        self._vad = webrtcvad.Vad(owner.aggressiveness)
        self._rate = owner.sample_rate
        self._frame_bytes = owner.sample_rate * owner.frame_ms // 1000 * 2
        self._pad = max(owner.pad_ms // owner.frame_ms, 0)
        self._end = max(owner.end_silence_ms // owner.frame_ms, 1)
        self._min_voiced = -(-owner.min_speech_ms // owner.frame_ms)  # ceil: a 250 ms blip needs 9 frames, not 8
        self._pending = b""
        self._before: deque[bytes] = deque(maxlen=self._pad or None)
        self._speech: list[bytes] = []  # from the first voiced frame to the latest one
        self._after: list[bytes] = []  # non-speech since the latest voiced frame
        self._lead: list[bytes] = []  # padding taken from before the first voiced frame
        self._voiced = 0

    def feed(self, chunk: bytes) -> list[Pcm]:
        data = self._pending + chunk
        usable = len(data) - len(data) % self._frame_bytes
        self._pending = data[usable:]
        found = []
        for start in range(0, usable, self._frame_bytes):
            utterance = self._frame(data[start : start + self._frame_bytes])
            if utterance is not None:
                found.append(utterance)
        return found

    def flush(self) -> list[Pcm]:
        """The utterance still open at the end of the stream, if long enough; the state is then reset.

        A trailing part-frame (< ``frame_ms``) is dropped: webrtcvad cannot judge it.
        """
        utterance = self._close() if self._speech else None
        self._pending = b""
        self._before.clear()
        return [utterance] if utterance is not None else []

    def _frame(self, frame: bytes) -> Pcm | None:
        if self._vad.is_speech(frame, self._rate):
            if not self._speech:
                self._lead = list(self._before) if self._pad else []
                self._before.clear()
            self._speech.extend(self._after)
            self._after.clear()
            self._speech.append(frame)
            self._voiced += 1
            return None
        if not self._speech:
            if self._pad:
                self._before.append(frame)
            return None
        self._after.append(frame)
        if len(self._after) < self._end:
            return None
        utterance = self._close()
        return utterance

    def _close(self) -> Pcm | None:
        """End the open utterance: padded, or None when it was a blip; leftover silence pads the next one."""
        tail, rest = self._after[: self._pad], self._after[self._pad :]
        frames = [*self._lead, *self._speech, *tail]
        long_enough = self._voiced >= self._min_voiced
        self._speech, self._after, self._lead, self._voiced = [], [], [], 0
        self._before.clear()
        if self._pad:
            self._before.extend(rest[-self._pad :])
        return Pcm(b"".join(frames), self._rate) if long_enough else None


class Utterances:
    """Voice-activity segmentation: `split` a whole sound, or `feed` a stream chunk by chunk and `flush` at its end.

    Not thread-safe: one instance per stream (`split` keeps its own state and may run beside a stream).
    """

    def __init__(
        self,
        aggressiveness: int = 2,
        frame_ms: int = 30,
        end_silence_ms: int = 700,
        min_speech_ms: int = 250,
        *,
        pad_ms: int = 200,
        sample_rate: int = RATE,
    ) -> None:
        if aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"aggressiveness must be 0–3, not {aggressiveness}")
        if frame_ms not in (10, 20, 30):
            raise ValueError(f"webrtcvad frames are 10, 20 or 30 ms, not {frame_ms}")
        if sample_rate not in VAD_RATES:
            raise ValueError(f"webrtcvad needs one of {VAD_RATES} Hz, not {sample_rate}")
        self.aggressiveness, self.frame_ms, self.sample_rate = aggressiveness, frame_ms, sample_rate
        self.end_silence_ms, self.min_speech_ms, self.pad_ms = end_silence_ms, min_speech_ms, pad_ms
        self._stream = _Segmenter(self)

    def split(self, pcm: Pcm) -> list[Pcm]:
        """The utterances in ``pcm`` (16-bit mono at ``sample_rate``), each with a little padding."""
        if pcm.rate != self.sample_rate:
            raise ValueError(f"sound is {pcm.rate} Hz, this segmenter expects {self.sample_rate} Hz")
        segmenter = _Segmenter(self)
        return [*segmenter.feed(pcm.samples), *segmenter.flush()]

    def feed(self, chunk: bytes) -> list[Pcm]:
        """Utterances that ended within ``chunk`` (16-bit mono samples at ``sample_rate``, any length)."""
        return self._stream.feed(chunk)

    def flush(self) -> list[Pcm]:
        """The utterance still open at the end of the stream (if any); the stream then starts afresh."""
        return self._stream.flush()
