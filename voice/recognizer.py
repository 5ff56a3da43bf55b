"""Speech to text for the voice counter with vosk, narrowed to the counter's own phrases when the model allows it.

Why it is built this way:

- A runtime grammar (the catalog's item names and the counter's commands) makes a small model far more accurate
  than free recognition, but vosk silently ignores grammar words missing from the model's lexicon. So each phrase is
  checked against the model's word list first (``Model.vosk_model_find_word``; vosk 0.3.45 has no ``find_word``),
  and what had to be dropped is reported in `Recognizer.grammar_report` and logged at start-up.
- Chinese models list words (工作人员), not phrases (找工作人员), so a phrase of CJK ideographs the model does not
  know whole is cut into known words by forward maximum matching before it is given up on.
- The grammar goes to vosk as JSON with ``ensure_ascii=False``: vosk 0.3.45's JSON reader does not decode
  ``\\uXXXX`` escapes, and an escaped grammar is silently ignored word by word.
- The "anything else" word differs between models ("[unk]" in vosk's own models, "<UNK>" in the Korean one); the
  one the model knows is added to the grammar, so noise can be heard as unknown rather than forced onto a command. It
  is kept in `Heard.words` but not in `Heard.text`. Measured with the Korean model: its "<UNK>" never wins (Mandarin
  speech came out as grammar words at confidence ~1.0), so a grammar result alone does not prove a command was said.
- Only models with a lookahead graph (``HCLr.fst`` + ``Gr.fst``) accept a grammar; with a full ``HCLG.fst`` graph
  vosk would ignore it, so recognition is free and says so.
- The `vosk.Model` (hundreds of MB) is loaded once and shared; each `recognize` call makes its own cheap
  `KaldiRecognizer`, which is what makes calls from several threads safe. Calls block: run them in an executor.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    """Mean of the confidences (0–1) of the words in ``text``; 0.0 when there are none."""
    words: list[tuple[str, float]] = field(default_factory=list)
    """Every word vosk returned with its confidence, the unknown word included."""
    seconds: float = 0.0
    """Length of the audio in seconds."""
    rtf: float = 0.0
    """Real-time factor: processing time divided by ``seconds`` (below 1 is faster than real time; 0.0 for no audio)."""


def tidy(text: str) -> str:
    """``text`` with the spaces between two CJK ideographs removed (vosk separates Chinese words by spaces).

    Spaces between Latin or Hangul words, and between them and CJK, stay: they separate words there.
    """
    return _CJK_GAP.sub("", " ".join(text.split()))


def _supports_grammar(model_path: Path) -> bool:
    return any((model_path / sub / "HCLr.fst").exists() and (model_path / sub / "Gr.fst").exists() for sub in GRAPHS)


class Recognizer:
    """A vosk model loaded once, with the runtime grammar built from ``vocabulary``; safe to share between threads."""

    def __init__(self, model_path: Path | str, *, vocabulary: Iterable[str] = (), sample_rate: int = RATE) -> None:
        self.model_path, self.sample_rate = Path(model_path), sample_rate
        self._vosk, self._model = self._load(self.model_path)
        self._start(vocabulary)

    def with_vocabulary(self, vocabulary: Iterable[str]) -> Recognizer:
        """A recogniser for another vocabulary (a reloaded catalog) sharing this one's loaded model."""
        other = object.__new__(Recognizer)
        other.model_path, other.sample_rate, other._vosk, other._model = (
            self.model_path,
            self.sample_rate,
            self._vosk,
            self._model,
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

    @property
    def grammar(self) -> list[str] | None:
        """The phrases, as word sequences, that recognition is limited to; None for free recognition."""
        return list(self._grammar) if self._grammar else None

    def recognize(self, pcm: Pcm) -> Heard:
        """What is said in ``pcm`` (resampled to ``sample_rate`` when needed). Blocks for about ``rtf`` × length."""
        pcm = resample(pcm, self.sample_rate)
        started = time.perf_counter()
        if self._grammar:
            phrases = [*self._grammar, *([self.unknown_word] if self.unknown_word else [])]
            grammar = json.dumps(phrases, ensure_ascii=False)  # escaped JSON is not decoded: see the module doc
            recognizer = self._vosk.KaldiRecognizer(self._model, self.sample_rate, grammar)
        else:
            recognizer = self._vosk.KaldiRecognizer(self._model, self.sample_rate)
        recognizer.SetWords(True)
        results = []
        for start in range(0, len(pcm.samples), CHUNK_BYTES):
            if recognizer.AcceptWaveform(pcm.samples[start : start + CHUNK_BYTES]):
                results.append(json.loads(recognizer.Result()))
        results.append(json.loads(recognizer.FinalResult()))
        elapsed = time.perf_counter() - started
        words = [(str(w["word"]), float(w.get("conf", 0.0))) for r in results for w in r.get("result", [])]
        if not words:  # a result without word details still has its text
            words = [(w, 0.0) for r in results for w in r.get("text", "").split()]
        spoken = [(w, c) for w, c in words if w != self.unknown_word]
        seconds = duration_s(pcm)
        return Heard(
            text=tidy(" ".join(w for w, _ in spoken)),
            confidence=sum(c for _, c in spoken) / len(spoken) if spoken else 0.0,
            words=words,
            seconds=seconds,
            rtf=elapsed / seconds if seconds > 0 else 0.0,
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
