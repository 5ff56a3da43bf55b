"""The voice counter: an elderly resident speaks, jiujin listens, answers slowly and shows large text.

One turn: audio → speech segments (`voice.vad`) → vosk (`voice.recognizer`) → the dialogue over Rasa's REST channel
(the same item resolver and pinyin repair as every channel; ``{"interface": "voice"}`` asks the bot for one
question at a time) → the answer spoken (`voice.tts`). What the counter decides itself, before the dialogue:

- heard with low confidence: it asks "您说的是：…，对吗？" and acts only on a yes;
- heard nothing (or a no) twice in a row: it offers the screen's buttons and the staff;
- "重复": the last answer again, at once, without asking the bot.

``bin/jiujin counter --wav IN.wav --reply-wav OUT.wav`` runs one turn from a file and prints
``{"heard": ..., "replies": [...]}``; ``bin/jiujin counter`` alone runs the live counter at the microphone
(`voice.live`), sharing its session with the counter's screen.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from voice.live import LiveCounter

CONFIRM_BELOW = 0.6
"""Recognition confidence under which the counter asks before acting."""
MAX_FAILURES = 2
NOT_HEARD = "抱歉，我没有听清，请您再说一遍。"
OFFER_HELP = "您可以点屏幕上的按钮，或者说“找工作人员”，工作人员马上过来。"
NO_MODEL = "语音识别暂时不能用，请点屏幕上的按钮，或者找工作人员。"
BACKEND_DOWN = "抱歉，系统有点忙，请稍等一下再说，或者找工作人员。"
REPEAT_WORDS = ("重复", "再说一遍", "没听清")
YES_WORDS = ("对", "是", "没错", "嗯", "好")
NO_WORDS = ("不", "错", "没有")


def confirmation(text: str) -> str:
    return f"您说的是：{text}，对吗？"


@dataclass
class Turn:
    """One exchange at the counter: what was heard and what the counter answers."""

    heard: str | None
    replies: list[str]
    confidence: float = 1.0
    asked_to_confirm: bool = False


@dataclass
class CounterSession:
    """One resident at the counter: the conversation id, a heard text waiting for a yes, failures in a row, and
    the last answer (for 重复)."""

    sender: str = field(default_factory=lambda: f"counter-{uuid.uuid4().hex[:12]}")
    pending: str | None = None
    failures: int = 0
    last_replies: list[str] = field(default_factory=list)
    started: bool = False


class Counter:
    """Turns what a resident said into the counter's answer."""

    def __init__(self, rasa_url: str, *, session: CounterSession | None = None, timeout_s: float = 30) -> None:
        self.rasa_url = rasa_url.rstrip("/")
        self.session = session or CounterSession()
        self.timeout_s = timeout_s

    def hear(self, text: str | None, confidence: float) -> Turn:
        """Decide what to do with a recognised text (None or empty: nothing was understood)."""
        session = self.session
        heard = (text or "").strip()
        if not heard:
            return self._failed(None)
        if any(word in heard for word in REPEAT_WORDS) and session.last_replies:
            return Turn(heard, list(session.last_replies), confidence)
        if session.pending is not None:
            pending, session.pending = session.pending, None
            if _is_no(heard):
                return self._failed(heard)
            if _is_yes(heard):
                return self._ask_bot(pending, confidence)
            # Neither yes nor no: the resident said something new; treat it as a new utterance.
        if confidence < CONFIRM_BELOW:
            session.pending = heard
            return self._answer(Turn(heard, [confirmation(heard)], confidence, asked_to_confirm=True))
        return self._ask_bot(heard, confidence)

    def _failed(self, heard: str | None) -> Turn:
        self.session.failures += 1
        if self.session.failures >= MAX_FAILURES:
            self.session.failures = 0
            return self._answer(Turn(heard, [OFFER_HELP], 0.0))
        return self._answer(Turn(heard, [NOT_HEARD], 0.0))

    def _ask_bot(self, text: str, confidence: float) -> Turn:
        session = self.session
        body: dict[str, object] = {"sender": session.sender, "message": text}
        if not session.started:
            body["metadata"] = {"interface": "voice"}  # the session starts in the counter's one-at-a-time mode
        try:
            response = httpx.post(f"{self.rasa_url}/webhooks/rest/webhook", json=body, timeout=self.timeout_s)
            response.raise_for_status()
        except httpx.HTTPError:
            return self._answer(Turn(text, [BACKEND_DOWN], confidence))
        session.started, session.failures = True, 0
        replies = [str(m["text"]) for m in response.json() if m.get("text")]
        return self._answer(Turn(text, replies, confidence))

    def _answer(self, turn: Turn) -> Turn:
        self.session.last_replies = list(turn.replies)
        return turn


def _is_yes(text: str) -> bool:
    return not _is_no(text) and any(word in text for word in YES_WORDS)


def _is_no(text: str) -> bool:
    return any(word in text for word in NO_WORDS)


def run_file(wav: Path, reply_wav: Path, rasa_url: str, model_path: str) -> Turn:
    """One turn from a WAV file: what was heard, the answer, and the answer spoken into ``reply_wav``."""
    from voice.audio import read_wav
    from voice.recognizer import Recognizer, RecognizerUnavailable
    from voice.tts import Speaker
    from voice.vad import Utterances

    counter = Counter(rasa_url)
    try:
        recognizer = Recognizer(Path(model_path), vocabulary=counter_vocabulary()) if model_path else None
    except RecognizerUnavailable:
        recognizer = None
    if recognizer is None:
        turn = Turn(None, [NO_MODEL], 0.0)
    else:
        segments = Utterances().split(read_wav(wav))
        heard = [recognizer.recognize(segment) for segment in segments]
        text = "".join(h.text for h in heard)
        confidence = min((h.confidence for h in heard), default=0.0)
        turn = counter.hear(text, confidence)
    with Speaker() as speaker:
        speaker.to_wav("。".join(turn.replies), reply_wav)
    return turn


def counter_vocabulary() -> list[str]:
    """Phrases the recogniser is biased towards: the counter's own words and every catalog name residents use."""
    from backend.catalog.loader import default_catalog

    names = [name for item in default_catalog().items for name in (item.name, *item.aliases)]
    return [*REPEAT_WORDS, "返回", "找工作人员", "取号", "绿色通道", *YES_WORDS, "不是", *names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="jiujin counter",
        description="the voice counter: live at the microphone, or one turn from a WAV file (--wav, --reply-wav)",
    )
    parser.add_argument("--wav", type=Path, help="one turn: what the resident said (WAV)")
    parser.add_argument("--reply-wav", type=Path, help="one turn: where to write the spoken answer")
    parser.add_argument("--rasa", default=os.environ.get("RASA_URL", "http://127.0.0.1:5005"), help="with --wav")
    parser.add_argument("--model", default=os.environ.get("VOSK_MODEL_PATH", ""), help="vosk model folder")
    live = parser.add_argument_group("live at the microphone")
    live.add_argument(
        "--mode",
        choices=["hands-free", "push-to-talk"],
        default=os.environ.get("VOICE_MODE", "hands-free"),
        help="push-to-talk: press Enter (or the counter's button) to start and again to finish",
    )
    live.add_argument("--input-device", default=os.environ.get("VOICE_INPUT_DEVICE") or None, help="PortAudio name")
    live.add_argument("--output-device", default=os.environ.get("VOICE_OUTPUT_DEVICE") or None, help="PortAudio name")
    live.add_argument("--backend", default=os.environ.get("BACKEND_URL", "http://127.0.0.1:8000"))
    live.add_argument(
        "--session",
        default=os.environ.get("VOICE_SESSION", "counter-1"),
        help="shared with the screen: open /kiosk?session=<this>",
    )
    live.add_argument("--barge-in-rms", type=float, default=float(os.environ.get("VOICE_BARGE_IN_RMS", "500")))
    live.add_argument("--turns", type=int, default=0, help="stop after this many turns (0: run until Ctrl-C)")
    args = parser.parse_args(argv)
    if args.wav is None and args.reply_wav is None:
        return run_live(args)
    if args.wav is None or args.reply_wav is None:
        parser.error("--wav and --reply-wav go together")
    if not args.wav.exists():
        print(f"error: {args.wav} does not exist", file=sys.stderr)
        return 2
    turn = run_file(args.wav, args.reply_wav, args.rasa, args.model)
    print(json.dumps({"heard": turn.heard, "replies": turn.replies}, ensure_ascii=False))
    return 0


def run_live(args: argparse.Namespace) -> int:
    """The counter at its microphone and loudspeaker until Ctrl-C (or ``--turns``); one JSON line per turn."""
    import threading
    import time

    from backend.identity import mask_text
    from voice.kiosk_client import KioskClient
    from voice.live import BargeIn, LiveCounter, LiveTurn, Mode
    from voice.loudspeaker import Loudspeaker
    from voice.microphone import Microphone, SoundDeviceUnavailable
    from voice.recognizer import Recognizer, RecognizerUnavailable
    from voice.tts import Speaker

    try:
        recognizer = Recognizer(Path(args.model), vocabulary=counter_vocabulary())
    except RecognizerUnavailable as exc:
        print(f"{NO_MODEL}\n{exc}", file=sys.stderr)
        return 2
    try:
        microphone, loudspeaker = Microphone(args.input_device), Loudspeaker(args.output_device)
    except SoundDeviceUnavailable as exc:
        print(f"语音服务台需要麦克风和扬声器，请点屏幕上的按钮或找工作人员。\n{exc}", file=sys.stderr)
        return 2

    def report(live: LiveTurn) -> None:
        heard = mask_text(live.turn.heard) if live.turn.heard else None  # residents say ID and phone numbers
        line = {"heard": heard, "confidence": round(live.turn.confidence, 2), "replies": live.turn.replies}
        print(json.dumps(line, ensure_ascii=False), flush=True)

    client = KioskClient(args.backend, args.session)
    stop = threading.Event()
    with Speaker() as speaker:
        counter = LiveCounter(
            microphone,
            loudspeaker,
            recognizer,
            client.hear,
            speaker,
            mode=Mode(args.mode),
            barge_in=BargeIn(min_rms=args.barge_in_rms),
            on_turn=report,
        )
        screen = threading.Thread(
            target=client.follow_screen, args=(lambda turn: counter.speak(turn["replies"]), stop), daemon=True
        )
        screen.start()
        if counter.mode is Mode.PUSH_TO_TALK:
            threading.Thread(target=_button_on_stdin, args=(counter,), daemon=True).start()
        print(f"listening ({args.mode}); the screen: {args.backend}/kiosk?session={args.session}", file=sys.stderr)
        try:
            counter.run(stop=stop, turns=args.turns)
            while loudspeaker.playing:  # the last answer is heard to its end
                time.sleep(0.05)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            microphone.close()
            loudspeaker.close()
    return 0


def _button_on_stdin(counter: LiveCounter) -> None:
    """Push-to-talk from Enter on the terminal (or a counter button that types Enter, as USB foot switches do)."""
    for _ in sys.stdin:
        counter.toggle()


if __name__ == "__main__":
    sys.exit(main())
