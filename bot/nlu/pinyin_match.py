"""Find catalog names in an utterance by characters, by pinyin (homophones), and by accent-tolerant pinyin.

Speech recognition writes what it heard with the wrong characters: 老年咖 for 老年卡, 残疾正 for 残疾证.
Comparing toneless pinyin finds those; folding the initials and finals that southern speakers merge
(zh/z, ch/c, sh/s, n/l, eng/en, ing/in, ang/an) finds accented ones too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pypinyin import lazy_pinyin

EXACT, HOMOPHONE, ACCENT = 1.0, 0.95, 0.88
_FOLDS = (
    (r"^zh", "z"),
    (r"^ch", "c"),
    (r"^sh", "s"),
    (r"^n(?!g)", "l"),
    (r"eng$", "en"),
    (r"ing$", "in"),
    (r"ang$", "an"),
)
_NOISE = re.compile(r"[\s，。、！？,.!?;；:：\"'“”‘’()（）\[\]【】~～-]+")


def normalise(text: str) -> str:
    """Drop spaces and punctuation (residents and recognisers sprinkle both)."""
    return _NOISE.sub("", text)


def _plain_with_positions(text: str) -> tuple[str, list[int]]:
    """The normalised text and, for each of its characters, the position in ``text``."""
    kept = [(i, ch) for i, ch in enumerate(text) if not _NOISE.fullmatch(ch)]
    return "".join(ch for _, ch in kept), [i for i, _ in kept]


def syllables(text: str) -> list[str]:
    """One toneless pinyin syllable per character (non-Chinese characters stay as they are, lower-cased)."""
    return [s.lower() for s in lazy_pinyin(text, errors=lambda chunk: list(chunk))]


def fold(syllable: str) -> str:
    """The accent-tolerant form of a syllable."""
    for pattern, replacement in _FOLDS:
        syllable = re.sub(pattern, replacement, syllable)
    return syllable


@dataclass(frozen=True)
class Hit:
    """A name found in the utterance: which name, for which key, how (score) and where (character span)."""

    key: str
    name: str
    score: float
    start: int
    end: int


class NameMatcher:
    """Index names (each with a key, e.g. an item id) once; find them in utterances."""

    def __init__(self, names: Iterable[tuple[str, str]]) -> None:
        self._entries = []
        for key, name in names:
            plain = normalise(name)
            if len(plain) < 2:
                continue
            spelled = syllables(plain)
            self._entries.append((key, plain, spelled, [fold(s) for s in spelled]))

    def find(self, text: str) -> list[Hit]:
        """Every name found, best first: longer names first, then exact before homophone before accent.

        Spans are positions in ``text`` itself (punctuation inside a match is included).
        """
        plain, positions = _plain_with_positions(text)
        spelled = syllables(plain)
        folded = [fold(s) for s in spelled]
        hits = []
        for key, name, name_spelled, name_folded in self._entries:
            at = plain.find(name)
            if at >= 0:
                hits.append(Hit(key, name, EXACT, at, at + len(name)))
                continue
            size = len(name_spelled)
            for start in range(len(spelled) - size + 1):
                if spelled[start : start + size] == name_spelled:
                    hits.append(Hit(key, name, HOMOPHONE, start, start + size))
                    break
                # Two-syllable names are too short to trust accent folding (too many words would match).
                if size > 2 and folded[start : start + size] == name_folded:
                    hits.append(Hit(key, name, ACCENT, start, start + size))
                    break
        spans = [Hit(h.key, h.name, h.score, positions[h.start], positions[h.end - 1] + 1) for h in hits]
        return sorted(spans, key=lambda h: (-len(h.name), -h.score))
