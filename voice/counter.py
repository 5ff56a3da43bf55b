"""The voice counter: an elderly resident speaks, jiujin listens, answers slowly and shows large text.

One turn: audio → speech segments (`voice.vad`) → vosk (`voice.recognizer`) → the dialogue over Rasa's REST channel
(the same item resolver and pinyin repair as every channel; ``{"interface": "voice"}`` asks the bot for one
question at a time) → the answer spoken (`voice.tts`). What the counter decides itself, before the dialogue:

- heard with low confidence: it asks "您说的是：…，对吗？" and acts only on a yes;
- heard nothing (or a no) twice in a row: it offers the screen's buttons and the staff;
- "重复": the last answer again, at once, without asking the bot;
- "办完了": goodbye, and the turn says the resident has finished (`Turn.finished`), so the counter ends the
  resident's session; a turn whose answer gives a case number or a queue number says so too (`Turn.served`).

``bin/jiujin counter --wav IN.wav --reply-wav OUT.wav`` runs one turn from a file and prints
``{"heard": ..., "replies": [...]}`` (a fresh conversation each time); ``bin/jiujin counter --counter NAME`` runs the
live counter at the microphone (`voice.live`), authenticated as counter NAME and sharing its resident sessions with
the counter's screen.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
COUNTER_CLOSED = "这台服务台暂时不能用，请找工作人员。"
GOODBYE = "好的，您慢走。下一位居民可以开始了。"
DONE_WORDS = ("办完了", "结束服务", "再见")
REPEAT_WORDS = ("重复", "再说一遍", "没听清")
YES_WORDS = ("对", "是", "没错", "嗯", "好")
NO_WORDS = ("不", "错", "没有")


SERVED = re.compile(r"办件编号是\s*JJ-\d{8}-\d{4,}|您的号码是\s*[A-Z]\d{3,7}|已经有一个号\s*[A-Z]\d{3,7}")
"""The bot's answers that give a case number (utter_case_filed) or a queue number (utter_ticket_taken, or the one
already waiting): the turn served the resident, whose session then ends a short while later. Matched on the
answer's text because Rasa's REST channel returns nothing else; keep it in step with those responses in
``bot/domain/shared.yml``."""


def confirmation(text: str) -> str:
    return f"您说的是：{text}，对吗？"


def is_done(text: str) -> bool:
    """True when the resident says they have finished ("办完了"), not when they ask whether something is done
    ("我的证办完了吗？")."""
    said = text.strip().rstrip("。！!， ")
    return any(word in said for word in DONE_WORDS) and not said.endswith(("吗", "么", "？", "?", "没有"))


@dataclass
class Turn:
    """One exchange at the counter: what was heard and what the counter answers."""

    heard: str | None
    replies: list[str]
    confidence: float = 1.0
    asked_to_confirm: bool = False
    finished: bool = False
    """The resident said they have finished (办完了): the counter's session for them ends."""
    served: bool = False
    """The answer gave a case number or a queue number (`SERVED`)."""


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
        if is_done(heard):
            session.pending, session.failures = None, 0
            return self._answer(Turn(heard, [GOODBYE], confidence, finished=True))
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
        served = any(SERVED.search(reply) for reply in replies)
        return self._answer(Turn(text, replies, confidence, served=served))

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
    return [*REPEAT_WORDS, *DONE_WORDS, "返回", "找工作人员", "取号", "绿色通道", *YES_WORDS, "不是", *names]


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
        "--counter",
        default=os.environ.get("VOICE_COUNTER", "counter-1"),
        help="the counter this is (bin/jiujin kiosk add NAME); its credential is read from JIUJIN_COUNTER_KEY or its "
        "key file, and its screen opens `bin/jiujin kiosk url NAME`",
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
    from voice.kiosk_client import KioskClient, counter_key_path, read_counter_key
    from voice.live import BargeIn, LiveCounter, LiveTurn, Mode
    from voice.loudspeaker import Loudspeaker
    from voice.microphone import Microphone, SoundDeviceUnavailable
    from voice.recognizer import Recognizer, RecognizerUnavailable
    from voice.tts import Speaker

    key = read_counter_key(args.counter)
    if key is None:
        where = counter_key_path(args.counter)
        print(
            f"{COUNTER_CLOSED}\nno credential for counter {args.counter!r} in JIUJIN_COUNTER_KEY or {where}: "
            f"run 'bin/jiujin kiosk add {args.counter}'",
            file=sys.stderr,
        )
        return 2
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

    client = KioskClient(args.backend, key)
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
        print(
            f"listening ({args.mode}) as counter {args.counter}; its screen: bin/jiujin kiosk url {args.counter}",
            file=sys.stderr,
        )
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
