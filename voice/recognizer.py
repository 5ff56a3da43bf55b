"""Speech to text with vosk: free recognition, or narrowed to a vocabulary (the counter's own phrases and the
catalog's names) when the model allows it.

- A vocabulary becomes a runtime grammar, which makes a small model far more accurate than free recognition. vosk
  silently ignores grammar words missing from the model's lexicon, so each phrase is checked against the model's
  word list first (``Model.vosk_model_find_word``); a phrase of CJK ideographs the model does not know whole is cut
  into known words by forward maximum matching; what had to be dropped is in `Recognizer.grammar_report` and logged.
  The grammar goes to vosk as JSON with ``ensure_ascii=False``: vosk's JSON reader does not decode ``\\uXXXX``.
- The model's "anything else" word ("[unk]", or "<UNK>" in the Korean model) is added to the grammar, so noise is
  heard as unknown rather than forced onto a phrase; it stays out of `Heard.text`.
- The decoder always picks some grammar path, so a grammar result is checked against free recognition of the same
  audio and kept only as far as the two *sound* alike (`agreement`: the texts as toneless pinyin or as Hangul jamo,
  since free recognition writes homophones and cuts words differently). The agreement caps the confidence, so a
  half-supported phrase gets the counter's "您说的是…，对吗？"; below `MIN_AGREEMENT` the free text is returned instead.
  When the grammar hears only "unknown", nothing was heard and free recognition is not run (on noise it invents
  words).
- A free `KaldiRecognizer` grows its share of the model's large graph as it decodes, so free recognisers are kept
  warm between calls (`WARM_FREE_DECODERS`): a fresh one per call would run near real time on two cores; a
  service warms one up when it starts (`Recognizer.warm_up`).
- Only models with a lookahead graph (``HCLr.fst`` + ``Gr.fst``) accept a grammar; with a full ``HCLG.fst`` graph
  recognition is free and says so.
- The `vosk.Model` (hundreds of MB) is loaded once and shared; each call uses recognisers no other call holds, so
  calls from several threads are safe. Calls block: run them in an executor.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import random
import re
import time
import unicodedata
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pypinyin import lazy_pinyin
from rapidfuzz import fuzz

from voice.audio import RATE, Pcm, duration_s, resample

log = logging.getLogger(__name__)

UNKNOWN_WORDS = ("[unk]", "<UNK>", "<unk>")
"""Spellings of the catch-all word, in the order they are tried in a model's lexicon."""
GRAPHS = ("graph", ".")
"""Folders of a model where vosk looks for its decoding graph."""
MAX_WORD_CHARS = 8
"""Longest CJK word tried when cutting a phrase into known words."""
CHUNK_BYTES = 8000
"""Bytes handed to vosk at a time (0.25 s at 16 kHz), so its endpointing can finish results along the way."""
MIN_AGREEMENT = 0.4
"""Agreement of free recognition with the grammar's result under which that result is taken for forced."""
WARM_FREE_DECODERS = 2
"""Free vosk recognisers kept between calls, warm (see the module doc): one per call running at the same time."""

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_ALL_CJK = re.compile(rf"[{_CJK}]+")


class RecognizerUnavailable(RuntimeError):
    """The speech model is missing or cannot be loaded."""


@dataclass(frozen=True)
class Heard:
    """What was recognised in one utterance."""

    text: str
    """The words, without the catch-all "unknown" word; no spaces between two CJK ideographs (see `tidy`)."""
    confidence: float
    """Mean of the confidences (0–1) of the words in ``text``, at most the ``agreement`` of a grammar result; 0.0
    when there are none."""
    words: list[tuple[str, float]] = field(default_factory=list)
    """Every word vosk returned with its confidence in the decode ``text`` comes from, the unknown word included."""
    seconds: float = 0.0
    """Length of the audio in seconds."""
    rtf: float = 0.0
    """Real-time factor: processing time divided by ``seconds`` (below 1 is faster than real time; 0.0 for no audio)."""
    source: Literal["grammar", "free"] = "free"
    """Which decode ``text`` comes from: the grammar's, or free recognition (no grammar, or a forced grammar result)."""
    free_text: str = ""
    """What free recognition heard: the same as ``text`` when ``source`` is "free"; "" when it did not run (the
    grammar heard nothing)."""
    agreement: float | None = None
    """How much ``free_text`` sounds like the grammar's result (0–1, see `agreement`); None when no grammar result
    was checked."""


def tidy(text: str) -> str:
    """``text`` with the spaces between two CJK ideographs removed (vosk separates Chinese words by spaces).

    Spaces between Latin or Hangul words, and between them and CJK, stay: they separate words there.
    """
    return _CJK_GAP.sub("", " ".join(text.split()))


def sounds(text: str) -> str:
    """``text`` spelled as it sounds: toneless pinyin for Chinese characters, jamo for Hangul, lower-case letters
    for the rest; spaces, digits and punctuation dropped."""
    spelled = "".join(lazy_pinyin(text))  # text that is not Chinese comes back as it was
    return "".join(c for c in unicodedata.normalize("NFD", spelled.lower()) if c.isalpha())


def agreement(grammar_text: str, free_text: str) -> float:
    """How much ``free_text`` sounds like ``grammar_text``, from 0 (nothing alike) to 1 (the same sounds)."""
    return fuzz.ratio(sounds(grammar_text), sounds(free_text)) / 100


def _results(decoder: Any, pcm: Pcm) -> list[dict[str, Any]]:
    """What the vosk recogniser ``decoder`` makes of ``pcm``, fed in chunks; it is ready for another sound after."""
    results = []
    for start in range(0, len(pcm.samples), CHUNK_BYTES):
        if decoder.AcceptWaveform(pcm.samples[start : start + CHUNK_BYTES]):
            results.append(json.loads(decoder.Result()))
    results.append(json.loads(decoder.FinalResult()))
    return results


def _checked(grammar: Heard, free: Heard) -> Heard:
    """The grammar's result with its confidence capped by how much free recognition agrees with it, or the free
    result when it agrees less than `MIN_AGREEMENT` (the grammar's result was forced)."""
    agreed = agreement(grammar.text, free.text)
    if agreed < MIN_AGREEMENT:
        log.debug("grammar result taken as forced (agreement %.2f)", agreed)  # what residents say stays out of logs
        return replace(free, agreement=agreed)
    return replace(grammar, confidence=min(grammar.confidence, agreed), free_text=free.text, agreement=agreed)


def _supports_grammar(model_path: Path) -> bool:
    return any((model_path / sub / "HCLr.fst").exists() and (model_path / sub / "Gr.fst").exists() for sub in GRAPHS)


class Recognizer:
    """A vosk model loaded once, with the runtime grammar built from ``vocabulary``; safe to share between threads."""

    def __init__(self, model_path: Path | str, *, vocabulary: Iterable[str] = (), sample_rate: int = RATE) -> None:
        self.model_path, self.sample_rate = Path(model_path), sample_rate
        self._vosk, self._model = self._load(self.model_path)
        self._warm: queue.Queue[Any] = queue.Queue(maxsize=WARM_FREE_DECODERS)
        self._start(vocabulary)

    def with_vocabulary(self, vocabulary: Iterable[str]) -> Recognizer:
        """A recogniser for another vocabulary (a reloaded catalog) sharing this one's loaded model (and warm free
        recognisers)."""
        other = object.__new__(Recognizer)
        other.model_path, other.sample_rate, other._vosk, other._model, other._warm = (
            self.model_path,
            self.sample_rate,
            self._vosk,
            self._model,
            self._warm,
        )
        other._start(vocabulary)
        return other

    def _start(self, vocabulary: Iterable[str]) -> None:
        self.unknown_word = next((w for w in UNKNOWN_WORDS if self._known(w)), None)
        """The model's catch-all word, or None when it has none."""
        self.grammar_report: dict[str, list[str]] = {"kept": [], "dropped": []}
        """Vocabulary phrases used in the grammar ("kept") and those with words the model lacks ("dropped")."""
        self._grammar: list[str] = []
        self._build_grammar(vocabulary)
        phrases = [*self._grammar, *([self.unknown_word] if self.unknown_word else [])]
        self._grammar_json = json.dumps(phrases, ensure_ascii=False)  # escaped JSON is not decoded: see the module doc

    @property
    def grammar(self) -> list[str] | None:
        """The phrases, as word sequences, that recognition is limited to; None for free recognition."""
        return list(self._grammar) if self._grammar else None

    def recognize(self, pcm: Pcm) -> Heard:
        """What is said in ``pcm`` (resampled to ``sample_rate`` when needed). Blocks for about ``rtf`` × length.

        With a grammar, what it hears is checked against free recognition of the same audio (see the module doc).
        """
        pcm = resample(pcm, self.sample_rate)
        started = time.perf_counter()
        if self._grammar:
            heard = self._heard(_results(self._new_decoder(self._grammar_json), pcm), "grammar")
            if heard.text:  # nothing heard (or only "unknown") stands as it is, without a second decode
                heard = _checked(heard, self._free(pcm))
        else:
            heard = self._free(pcm)
        seconds = duration_s(pcm)
        return replace(heard, seconds=seconds, rtf=(time.perf_counter() - started) / seconds if seconds > 0 else 0.0)

    def warm_up(self, seconds: float = 1.0) -> None:
        """Decode ``seconds`` of noise on a free recogniser and keep it warm, so the first real call does not pay for
        growing the graph (with the Korean model, 3 s for a one-second voice note cold against 1 s after this)."""
        generator = random.Random(0)  # the same noise every time
        noise = array("h", (generator.randint(-3000, 3000) for _ in range(int(self.sample_rate * seconds))))
        self._free(Pcm(noise.tobytes(), self.sample_rate))

    def _free(self, pcm: Pcm) -> Heard:
        """Free recognition of ``pcm``, on a warm recogniser when one is idle."""
        try:
            decoder = self._warm.get_nowait()
        except queue.Empty:
            decoder = self._new_decoder()
        heard = self._heard(_results(decoder, pcm), "free")
        with contextlib.suppress(queue.Full):  # enough are kept warm already: this one goes
            self._warm.put_nowait(decoder)
        return heard

    def _new_decoder(self, *grammar_json: str) -> Any:
        decoder = self._vosk.KaldiRecognizer(self._model, self.sample_rate, *grammar_json)
        decoder.SetWords(True)
        return decoder

    def _heard(self, results: list[dict[str, Any]], source: Literal["grammar", "free"]) -> Heard:
        """The words of one decode's results; the unknown word counts in neither the text nor the confidence."""
        words = [(str(w["word"]), float(w.get("conf", 0.0))) for r in results for w in r.get("result", [])]
        if not words:  # a result without word details still has its text
            words = [(w, 0.0) for r in results for w in r.get("text", "").split()]
        spoken = [(w, c) for w, c in words if w != self.unknown_word]
        text = tidy(" ".join(w for w, _ in spoken))
        return Heard(
            text=text,
            confidence=sum(c for _, c in spoken) / len(spoken) if spoken else 0.0,
            words=words,
            source=source,
            free_text=text if source == "free" else "",
        )

    # -- start-up ------------------------------------------------------------------------------------------------
    @staticmethod
    def _load(model_path: Path) -> tuple[Any, Any]:
        hint = "请先运行 make voice-model 下载语音模型 / run `make voice-model` to fetch the speech model"
        if not model_path.is_dir():
            raise RecognizerUnavailable(f"找不到语音模型 {model_path} / speech model not found at {model_path}; {hint}")
        try:
            import vosk
        except ImportError as exc:
            raise RecognizerUnavailable(f"未安装 vosk / the vosk package is not installed ({exc})") from exc
        vosk.SetLogLevel(-1)  # Kaldi's info lines, one per model file, would flood the log; warnings still show
        started = time.perf_counter()
        try:
            model = vosk.Model(str(model_path))
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise RecognizerUnavailable(
                f"语音模型无法加载 {model_path} / speech model at {model_path} could not be loaded ({exc}); {hint}"
            ) from exc
        log.info("vosk model %s loaded in %.1f s", model_path, time.perf_counter() - started)
        return vosk, model

    def _known(self, word: str) -> bool:
        return self._model.vosk_model_find_word(word) >= 0

    def _words_of(self, phrase: str) -> list[str] | None:
        """``phrase`` as words the model knows, or None when some part cannot be made of known words."""
        words: list[str] = []
        for token in phrase.split():
            if self._known(token):
                words.append(token)
            elif _ALL_CJK.fullmatch(token) and (pieces := self._segment(token)):
                words.extend(pieces)
            else:
                return None
        return words or None

    def _segment(self, token: str) -> list[str] | None:
        """Forward maximum matching of a run of CJK ideographs against the lexicon; None if a character is left."""
        pieces, i = [], 0
        while i < len(token):
            for end in range(min(len(token), i + MAX_WORD_CHARS), i, -1):
                if self._known(token[i:end]):
                    pieces.append(token[i:end])
                    i = end
                    break
            else:
                return None
        return pieces

    def _build_grammar(self, vocabulary: Iterable[str]) -> None:
        phrases = list(dict.fromkeys(" ".join(p.split()) for p in vocabulary if p and p.strip()))
        if not phrases:
            log.info("speech recognition: free (no vocabulary given)")
            return
        if not _supports_grammar(self.model_path):
            self.grammar_report["dropped"] = phrases
            log.warning("speech recognition: free; model %s has no lookahead graph for a grammar", self.model_path)
            return
        for phrase in phrases:
            words = self._words_of(phrase)
            if words is None:
                self.grammar_report["dropped"].append(phrase)
            else:
                self.grammar_report["kept"].append(phrase)
                self._grammar.append(" ".join(words))
        kept, dropped = self.grammar_report["kept"], self.grammar_report["dropped"]
        if dropped:
            log.warning("speech grammar: dropped %d phrases unknown to the model: %s", len(dropped), "、".join(dropped))
        if self._grammar:
            catch_all = self.unknown_word or "no catch-all word"
            log.info("speech recognition: grammar of %d phrases (+ %s)", len(kept), catch_all)
        else:
            log.warning("speech recognition: free; none of the %d phrases is known to the model", len(phrases))
