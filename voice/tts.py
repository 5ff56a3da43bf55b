"""Text to speech for the hall and the voice counter: pyttsx3 driving espeak-ng's Mandarin voice (cmn-latn-pinyin).

Why it is built this way:

- espeak-ng is one synthesiser per process: pyttsx3's espeak driver initialises it once and its synth callback is
  global, and pyttsx3's engine is not thread-safe. So ONE worker thread per process owns the engine (created on that
  thread) and every `Speaker` hands it requests through a queue; speakers with other voices or rates share it.
- pyttsx3 2.99 runs espeak in its asynchronous mode, and a rate set with `setProperty("rate")` races espeak's own
  command thread (measured: the previous or an older rate is often used). The rate therefore travels inside the text
  as an espeak embedded command (``\\x01<rate>S``), which espeak applies to exactly that utterance, and the worker
  waits for espeak to be idle (``espeak_Synchronize``) before each utterance.
- pyttsx3 2.99's own ``say()`` plays by ``os.system("aplay …")`` and ignores failure, and after a ``save_to_file``
  it writes every later ``say()`` into that same file. So `Speaker.say` renders to a temporary WAV and plays it on a
  separate playback thread (rendering the next announcement never waits for the last one to finish playing), with
  the first player found on PATH; no player or no sound card is logged once and otherwise ignored.
- The driver also print()s a line for every file it saves; that goes to this module's debug log instead.
- Rate 140 words a minute, slower than espeak's 175: many residents are elderly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import wave
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

DEFAULT_VOICE = "cmn-latn-pinyin"
"""espeak-ng's Mandarin voice that reads Latin letters as letter names / pinyin rather than English words."""
DEFAULT_RATE = 140
"""Words per minute (espeak's default is 175)."""
RENDER_TIMEOUT_S = 30.0
"""How long `to_wav` waits for its file: a sentence renders in ~15 ms, so this only bounds a stuck engine."""
PLAYERS = (
    ("aplay", "-q"),
    ("paplay",),
    ("pw-play",),
    ("ffplay", "-nodisp", "-autoexit", "-loglevel", "error"),
)
"""Command lines that play a WAV file, in order of preference; the path is appended."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # \x01 would start an espeak embedded command
T = TypeVar("T")


class TtsUnavailableError(RuntimeError):
    """pyttsx3, espeak-ng or the requested voice is missing here."""


def phonemes(text: str, *, voice: str = DEFAULT_VOICE) -> str:
    """What espeak-ng will say for ``text``, as its phoneme mnemonics (Mandarin syllables carry tone numbers).

    Tests and tuning use it to check, without listening, how numbers and letters are read.
    """
    result = subprocess.run(
        ["espeak-ng", "-q", "-x", "-v", voice, "--stdin"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return " ".join(result.stdout.split())


def wav_duration(path: Path) -> float:
    """Length of a WAV file in seconds."""
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def _voice_score(voice: Any, wanted: str) -> int:
    """How well a pyttsx3 voice matches ``wanted`` (0: not at all); an exact id or language beats a substring."""
    wanted = wanted.lower()
    ident = str(voice.id).lower()
    languages = [str(lang).lower() for lang in (voice.languages or [])]
    if ident == wanted or ident.rsplit("/", 1)[-1] == wanted or wanted in languages:
        return 3
    if wanted in ident or any(wanted in lang for lang in languages):
        return 2
    return 1 if wanted in str(voice.name).lower() else 0


def audio_player() -> tuple[str, ...] | None:
    """The command line (without the file) that plays WAV files here, or None when no player is installed."""
    return next((command for command in PLAYERS if shutil.which(command[0])), None)


def _driver_print(*args: object, **_: object) -> None:
    log.debug("pyttsx3: %s", " ".join(map(str, args)))


class _EngineThread:
    """The process's one pyttsx3 engine, owned by one daemon thread that runs requests in order."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[tuple[Callable[[Any], Any], Future]] = queue.SimpleQueue()
        self._voice_ids: dict[str, str | None] = {}
        self._current_voice: str | None = None
        self._synchronize: Callable[[], Any] | None = None
        threading.Thread(target=self._run, name="tts-engine", daemon=True).start()

    def submit(self, fn: Callable[[Any], T]) -> Future[T]:
        future: Future[T] = Future()
        self._requests.put((fn, future))
        return future

    def _run(self) -> None:
        engine, failure = None, ""
        try:
            import pyttsx3
            from pyttsx3.drivers import _espeak  # loads libespeak-ng; we need its Synchronize (see module doc)
            from pyttsx3.drivers import espeak as espeak_driver

            engine = pyttsx3.init("espeak")
            self._synchronize = getattr(_espeak, "Synchronize", None)
            # The driver print()s "Audio saved to …" for every file; a module-level name sends that to our log.
            espeak_driver.print = _driver_print  # type: ignore[attr-defined]
        except Exception as exc:  # no pyttsx3, no libespeak-ng: every request fails with the reason
            failure = f"{type(exc).__name__}: {exc}"
            log.warning("text to speech unavailable: %s", failure)
        while True:
            fn, future = self._requests.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                if engine is None:
                    raise TtsUnavailableError(f"pyttsx3 with espeak-ng is unavailable ({failure})")
                future.set_result(fn(engine))
            except BaseException as exc:  # the caller gets it; the engine thread lives on
                future.set_exception(exc)

    # -- run on the engine thread only ---------------------------------------------------------------------------
    def voice_id(self, engine: Any, wanted: str) -> str | None:
        if wanted not in self._voice_ids:
            voices = engine.getProperty("voices")
            best = max(voices, key=lambda v: _voice_score(v, wanted), default=None)
            found = best.id if best is not None and _voice_score(best, wanted) else None
            self._voice_ids[wanted] = found
            log.debug("espeak voice for %r: %r", wanted, found)
        return self._voice_ids[wanted]

    def render(self, engine: Any, text: str, path: Path, voice: str, rate: int) -> Path:
        voice_id = self.voice_id(engine, voice)
        if voice_id is None:
            raise TtsUnavailableError(f"espeak-ng has no voice {voice!r}")
        for attempt in (1, 2):
            if self._synchronize is not None:
                self._synchronize()  # a still-finishing utterance would make pyttsx3 cancel this one
            if voice_id != self._current_voice:
                engine.setProperty("voice", voice_id)
                self._current_voice = voice_id
            path.unlink(missing_ok=True)
            engine.save_to_file(f"\x01{int(rate)}S{text}", str(path))
            engine.runAndWait()
            try:
                if wav_duration(path) > 0:
                    return path
            except (OSError, EOFError, wave.Error):
                pass
            log.warning("espeak produced no complete WAV for %r (attempt %d)", text, attempt)
        raise RuntimeError(f"espeak-ng rendered nothing into {path}")


class _PlayerThread:
    """Plays WAV files one after another, so announcements never talk over each other."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[tuple[Path | None, bool, Future]] = queue.SimpleQueue()
        self._warned = False
        threading.Thread(target=self._run, name="tts-player", daemon=True).start()

    def submit(self, path: Path | None, *, delete: bool) -> Future[bool]:
        """Queue ``path`` for playing (None: only report, once, that nothing can play)."""
        future: Future[bool] = Future()
        self._requests.put((path, delete, future))
        return future

    def _run(self) -> None:
        while True:
            path, delete, future = self._requests.get()
            try:
                played = self._play(path)
            except Exception as exc:
                log.exception("playing %s failed", path)
                played = exc
            if delete and path is not None:  # before the caller hears back, so no temporary file outlives it
                path.unlink(missing_ok=True)
            if isinstance(played, Exception):
                future.set_exception(played)
            else:
                future.set_result(played)

    def _play(self, path: Path | None) -> bool:
        command = audio_player()
        if command is None or path is None:
            self._warn_once("no audio player (aplay, paplay, pw-play, ffplay) installed")
            return False
        try:
            subprocess.run(
                [*command, str(path)],
                check=True,
                capture_output=True,
                timeout=max(wav_duration(path) * 2, 10),
            )
        except (OSError, subprocess.SubprocessError, wave.Error, EOFError) as exc:
            stderr = exc.stderr if isinstance(exc, subprocess.CalledProcessError) else b""
            detail = (stderr or b"").decode(errors="replace").strip()
            self._warn_once(f"{command[0]} could not play {path.name}: {type(exc).__name__} {detail}".strip())
            return False
        return True

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning("audio output unavailable (logged once): %s", message)
        else:
            log.debug("audio output unavailable: %s", message)


_engine: _EngineThread | None = None
_player: _PlayerThread | None = None
_start_lock = threading.Lock()


def _engine_thread() -> _EngineThread:
    """The engine thread, started on first use (never at import)."""
    global _engine
    with _start_lock:
        if _engine is None:
            _engine = _EngineThread()
        return _engine


def _player_thread() -> _PlayerThread:
    global _player
    with _start_lock:
        if _player is None:
            _player = _PlayerThread()
        return _player


class Speaker:
    """Speech in one voice at one rate: `say` to the loudspeaker, `to_wav` to a file; safe to share between threads.

    Requests are queued to the process's engine thread and run one at a time, so concurrent callers simply wait
    their turn.
    """

    def __init__(self, *, voice: str = DEFAULT_VOICE, rate: int = DEFAULT_RATE, timeout_s: float = RENDER_TIMEOUT_S):
        self.voice, self.rate, self.timeout_s = voice, int(rate), timeout_s
        self._lock = threading.Lock()
        self._pending: set[Future] = set()
        self._closed = False
        self._available: bool | None = None

    def available(self) -> bool:
        """Whether pyttsx3 with the espeak driver and this voice work here (asked once, then remembered)."""
        if self._available is None:
            engine = _engine_thread()
            try:
                found = self._submit(lambda e: engine.voice_id(e, self.voice)).result(self.timeout_s)
            except Exception as exc:
                log.info("speech unavailable: %s", exc)
                found = None
            self._available = found is not None
        return self._available

    def to_wav(self, text: str, path: Path | str) -> Path:
        """Render ``text`` into the WAV file ``path`` (mono, 16 bit, espeak's 22.05 kHz) and return it once written.

        Raises TimeoutError after ``timeout_s``, TtsUnavailableError without pyttsx3/espeak/voice.
        """
        text, path = self._clean(text), Path(path)
        engine = _engine_thread()
        future = self._submit(lambda e: engine.render(e, text, path, self.voice, self.rate))
        return future.result(self.timeout_s)

    def say(self, text: str) -> Future[bool]:
        """Speak ``text`` on the loudspeaker, after whatever is playing; the future says whether it was heard.

        Never raises for a missing sound card or player (logged once); the future carries rendering errors.
        """
        text = self._clean(text)
        if audio_player() is None:  # nothing could play it: spare the rendering
            return _player_thread().submit(None, delete=False)
        fd, name = tempfile.mkstemp(prefix="jiujin-say-", suffix=".wav")
        os.close(fd)
        tmp = Path(name)
        engine = _engine_thread()
        rendered = self._submit(lambda e: engine.render(e, text, tmp, self.voice, self.rate))
        done: Future[bool] = Future()

        def play(f: Future) -> None:
            if f.exception() is not None:
                tmp.unlink(missing_ok=True)
                log.warning("could not say %r: %s", text, f.exception())
                done.set_exception(f.exception())  # type: ignore[arg-type]
                return
            _player_thread().submit(tmp, delete=True).add_done_callback(lambda p: _chain(p, done))

        rendered.add_done_callback(play)
        return self._track(done)

    def play(self, path: Path | str) -> Future[bool]:
        """Play a WAV file (an announcement with its chime) after whatever is playing; never raises for no audio."""
        self._check_open()
        return self._track(_player_thread().submit(Path(path), delete=False))

    def close(self, timeout_s: float | None = None) -> None:
        """Refuse further requests and wait (up to ``timeout_s``, default the render timeout) for pending ones.

        The engine thread is shared by every speaker and stays: espeak cannot be initialised twice in a process.
        """
        with self._lock:
            self._closed = True
            pending = list(self._pending)
        for future in pending:
            with contextlib.suppress(Exception):
                future.result(self.timeout_s if timeout_s is None else timeout_s)

    def __enter__(self) -> Speaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------------------------
    def _clean(self, text: str) -> str:
        self._check_open()
        text = _CONTROL.sub(" ", text).strip()
        if not text:
            raise ValueError("nothing to say")
        return text

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("speaker is closed")

    def _submit(self, fn: Callable[[Any], T]) -> Future[T]:
        return self._track(_engine_thread().submit(fn))

    def _track(self, future: Future[T]) -> Future[T]:
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)


def _chain(source: Future, target: Future) -> None:
    if source.exception() is not None:
        target.set_exception(source.exception())  # type: ignore[arg-type]
    else:
        target.set_result(source.result())
