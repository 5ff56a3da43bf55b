"""Write jieba's user dictionary from the catalog, so names like 老年人优待证 stay one token.

Run as ``python -m bot.nlu.jieba_dictionary OUT_DIR`` (``make model`` does it before training).
"""

from __future__ import annotations

import sys
from pathlib import Path

from bot.nlu.names import load_item_names

FREQUENCY = 2000  # high enough that jieba keeps the whole name together
DEPARTMENT_WORDS = ("医保", "社保", "卫健", "民政", "残联", "公安", "工作人员", "预受理", "办件编号")


def dictionary_lines() -> list[str]:
    """One ``word frequency`` line per catalog name, alias and department word, without repeats."""
    words: dict[str, None] = {}
    for item in load_item_names():
        for name in item.all_names:
            words.setdefault(name.strip(), None)
    for word in DEPARTMENT_WORDS:
        words.setdefault(word, None)
    return [f"{word} {FREQUENCY}" for word in words if word]


def main() -> None:
    """Write ``catalog.txt`` into the folder given on the command line."""
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "bot/jieba")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "catalog.txt").write_text("\n".join(dictionary_lines()) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
