"""Evaluate item resolution on held-out utterances with the trained model (the bot's own parse path).

``python -m bot.evaluate FILE.yml [...] --out REPORT.json`` reads Rasa NLU files whose intents are either
``item_<id>`` (the item the utterance is about), ``out_of_scope`` (must resolve to no item) or another
intent (must be predicted as that intent), and writes per-file figures and every miss.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from bot.resolve import DEFAULT_MODEL, quiet_rasa

ITEM_PREFIX = "item_"


def load_examples(path: Path) -> list[tuple[str, str]]:
    """(gold intent, text) for every example of a Rasa NLU YAML file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    examples = []
    for block in data.get("nlu", []):
        if "intent" not in block:
            continue
        for line in str(block.get("examples", "")).splitlines():
            text = line.strip().removeprefix("- ").strip()
            if text:
                examples.append((block["intent"], text))
    return examples


def judge(gold: str, parsed: dict[str, Any]) -> dict[str, bool]:
    """The kinds this parse is scored under and whether it is right in each.

    Item utterances count twice: ``item`` (the bot picked the right item without asking) and ``item_top1``
    (the right item is the pick, or the first numbered candidate when the bot asks). Out-of-scope requests
    must resolve to no item; other utterances must get their intent.
    """
    resolution = parsed.get("item_resolution") or {}
    if gold.startswith(ITEM_PREFIX):
        item = gold[len(ITEM_PREFIX) :]
        top = resolution.get("item") or next(iter(resolution.get("candidates") or []), None)
        return {"item": resolution.get("item") == item, "item_top1": top == item}
    if gold == "out_of_scope":
        return {"out_of_scope": resolution.get("item") is None}
    return {"intent": (parsed.get("intent") or {}).get("name") == gold}


async def score(parse: Callable[[str], Awaitable[dict[str, Any]]], files: list[Path]) -> dict[str, Any]:
    """Parse every example of every file with ``parse`` (the trained model's own parse, in this process or in a running
    Rasa server's ``/model/parse``); figures per file and kind, and the misses."""
    report: dict[str, Any] = {}
    for path in files:
        totals: Counter[str] = Counter()
        right: Counter[str] = Counter()
        misses = []
        started = time.perf_counter()
        examples = load_examples(path)
        for gold, text in examples:
            parsed = await parse(text)
            verdicts = judge(gold, parsed)
            for kind, ok in verdicts.items():
                totals[kind] += 1
                right[kind] += ok
            if not all(verdicts.values()):
                resolution = parsed.get("item_resolution") or {}
                misses.append(
                    {
                        "text": text,
                        "gold": gold,
                        "intent": (parsed.get("intent") or {}).get("name"),
                        "item": resolution.get("item"),
                        "candidates": resolution.get("candidates"),
                    }
                )
        elapsed = time.perf_counter() - started
        report[path.name] = {
            "examples": len(examples),
            "accuracy": {kind: round(right[kind] / totals[kind], 4) for kind in totals},
            "counts": {kind: [right[kind], totals[kind]] for kind in totals},
            "ms_per_parse": round(1000 * elapsed / max(len(examples), 1), 2),
            "misses": misses,
        }
    return report


async def evaluate(model: Path, files: list[Path]) -> dict[str, Any]:
    """`score` with the trained model loaded in this process."""
    from rasa.core.agent import Agent

    return await score(Agent.load(str(model)).parse_message, files)


def main() -> int:
    """Write the JSON report and print one summary line per file."""
    parser = argparse.ArgumentParser(prog="python -m bot.evaluate")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not args.model.exists():
        print(f"no trained model at {args.model}; run 'make model' first", file=sys.stderr)
        return 1
    quiet_rasa()
    report = asyncio.run(evaluate(args.model, args.files))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    for name, figures in report.items():
        print(f"{name}: {figures['accuracy']} ({figures['ms_per_parse']} ms/parse)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
