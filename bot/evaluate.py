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
from pathlib import Path
from typing import Any

import yaml

from bot.resolve import DEFAULT_MODEL, _quiet

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


def score(gold: str, parsed: dict[str, Any]) -> bool:
    """Whether the parse is right: the item for item intents, no item for out_of_scope, else the intent."""
    resolution = parsed.get("item_resolution") or {}
    if gold.startswith(ITEM_PREFIX):
        return resolution.get("item") == gold[len(ITEM_PREFIX) :]
    if gold == "out_of_scope":
        return resolution.get("item") is None and not resolution.get("candidates")
    return (parsed.get("intent") or {}).get("name") == gold


async def evaluate(model: Path, files: list[Path]) -> dict[str, Any]:
    """Parse every example of every file; figures per file and kind, and the misses."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    report: dict[str, Any] = {}
    for path in files:
        totals: Counter[str] = Counter()
        right: Counter[str] = Counter()
        misses = []
        started = time.perf_counter()
        examples = load_examples(path)
        for gold, text in examples:
            parsed = await agent.parse_message(text)
            kind = "item" if gold.startswith(ITEM_PREFIX) else ("out_of_scope" if gold == "out_of_scope" else "intent")
            totals[kind] += 1
            if score(gold, parsed):
                right[kind] += 1
            else:
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
    _quiet()
    report = asyncio.run(evaluate(args.model, args.files))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    for name, figures in report.items():
        print(f"{name}: {figures['accuracy']} ({figures['ms_per_parse']} ms/parse)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
