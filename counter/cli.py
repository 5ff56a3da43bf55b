"""``bin/jiujin counter``: the voice counter from the command line.

``--wav IN.wav --reply-wav OUT.wav`` runs one turn from a file and prints ``{"heard": ..., "replies": [...]}`` (a
fresh conversation each time, asked through the same `counter.dialogue.Counter` as the screen and the microphone);
without them it runs the live counter at the microphone (`voice.live`), authenticated as counter ``--counter`` at
the counter service (`counter.microphone_side`), sharing its resident sessions with the counter's screen.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from counter.config import CounterSettings, MicrophoneSettings
from counter.dialogue import COUNTER_CLOSED, NO_MODEL, RASA_TIMEOUT_S, Counter, Turn, counter_vocabulary
from security.counter_keys import counter_key_path, read_counter_key
from vocabulary.masking import mask_text

if TYPE_CHECKING:
    from voice.live import LiveCounter


def run_file(wav: Path, reply_wav: Path, rasa_url: str, model_path: Path | None) -> Turn:
    """One turn from a WAV file: what was heard, the answer, and the answer spoken into ``reply_wav``."""
    from voice.audio import read_wav
    from voice.recognizer import Recognizer, RecognizerUnavailable
    from voice.tts import Speaker
    from voice.vad import Utterances

    try:
        recognizer = Recognizer(model_path, vocabulary=counter_vocabulary()) if model_path else None
    except RecognizerUnavailable:
        recognizer = None
    if recognizer is None:
        turn = Turn(None, [NO_MODEL], 0.0)
    else:
        segments = Utterances().split(read_wav(wav))
        heard = [recognizer.recognize(segment) for segment in segments]
        text = "".join(h.text for h in heard)
        confidence = min((h.confidence for h in heard), default=0.0)
        turn = asyncio.run(_one_turn(rasa_url, text, confidence))
    with Speaker() as speaker:
        speaker.to_wav("。".join(turn.replies), reply_wav)
    return turn


async def _one_turn(rasa_url: str, text: str, confidence: float) -> Turn:
    async with httpx.AsyncClient(timeout=RASA_TIMEOUT_S) as http:
        return await Counter(rasa_url, http).hear(text, confidence)


def main(argv: list[str] | None = None) -> int:
    service, microphone = CounterSettings(), MicrophoneSettings()
    parser = argparse.ArgumentParser(
        prog="jiujin counter",
        description="the voice counter: live at the microphone, or one turn from a WAV file (--wav, --reply-wav)",
    )
    parser.add_argument("--wav", type=Path, help="one turn: what the resident said (WAV)")
    parser.add_argument("--reply-wav", type=Path, help="one turn: where to write the spoken answer")
    parser.add_argument("--rasa", default=service.rasa_url, help="with --wav: the dialogue (RASA_URL)")
    parser.add_argument("--model", type=Path, default=service.vosk_model_path, help="vosk model folder")
    live = parser.add_argument_group("live at the microphone")
    live.add_argument(
        "--mode",
        choices=["hands-free", "push-to-talk"],
        default=microphone.mode,
        help="push-to-talk: press Enter (or the counter's button) to start and again to finish",
    )
    live.add_argument("--input-device", default=microphone.input_device, help="PortAudio name")
    live.add_argument("--output-device", default=microphone.output_device, help="PortAudio name")
    live.add_argument("--counter-url", default=microphone.counter_url, help="the counter service (COUNTER_URL)")
    live.add_argument(
        "--counter",
        default=microphone.counter,
        help="the counter this is (bin/jiujin kiosk add NAME); its credential is read from JIUJIN_COUNTER_KEY or its "
        "key file, and its screen opens `bin/jiujin kiosk url NAME`",
    )
    live.add_argument("--barge-in-rms", type=float, default=microphone.barge_in_rms)
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
    from counter.microphone_side import MicrophoneSide
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
    if args.model is None:
        print(f"{NO_MODEL}\nno speech model: set VOSK_MODEL_PATH or --model (make voice-model)", file=sys.stderr)
        return 2
    try:
        recognizer = Recognizer(args.model, vocabulary=counter_vocabulary())
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

    side = MicrophoneSide(args.counter_url, key)
    stop = threading.Event()
    with Speaker() as speaker:
        counter = LiveCounter(
            microphone,
            loudspeaker,
            recognizer,
            side.hear,
            speaker,
            mode=Mode(args.mode),
            barge_in=BargeIn(min_rms=args.barge_in_rms),
            on_turn=report,
        )
        screen = threading.Thread(
            target=side.follow_screen, args=(lambda turn: counter.speak(turn["replies"]), stop), daemon=True
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
