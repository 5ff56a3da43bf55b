"""A loudspeaker for tests and the bench of the live counter, which plays by the microphone's clock.

The microphone there is a WAV file (`voice.microphone.WavInput`) read as fast as the loop takes it, so "while the
answer plays" is measured in the sound read since it started: every test of barge-in is exact and repeatable, and
the bench's figure is the detector's reaction to speech, not how fast this machine reads a file.
"""

from __future__ import annotations

from voice.audio import Pcm, duration_s
from voice.microphone import WavInput


class LoudspeakerOnTheMicrophonesClock:
    """Plays for as long as each sound lasts, counted in the microphone's sound; records what and when."""

    def __init__(self, microphone: WavInput) -> None:
        self.microphone = microphone
        self.played: list[tuple[float, Pcm]] = []
        """(the microphone's position when it started, the sound) of each answer."""
        self.stopped_at: list[float] = []
        """The microphone's position at each answer cut short."""
        self._until = 0.0

    @property
    def playing(self) -> bool:
        return self.microphone.position_s < self._until

    def play(self, pcm: Pcm) -> None:
        self.stop()
        self.played.append((self.microphone.position_s, pcm))
        self._until = self.microphone.position_s + duration_s(pcm)

    def stop(self) -> bool:
        if not self.playing:
            return False
        self.stopped_at.append(self.microphone.position_s)
        self._until = 0.0
        return True

    def close(self) -> None:
        self.stop()
