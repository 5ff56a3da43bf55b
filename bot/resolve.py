"""``bin/jiujin resolve``: one resident utterance per line on stdin, one JSON object per line on stdout.

It loads the trained model and parses each line with the model's own pipeline, so the item it prints is
exactly the item the bot would pick: ``{"text", "item", "confidence", "candidates"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import warnings
from pathlib import Path

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "jiujin.tar.gz"


def quiet_rasa() -> None:
    """Keep Rasa, TensorFlow and jieba chatter off stdout (and most of it off stderr)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.ERROR)
    for name in ("rasa", "tensorflow", "absl", "jax"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.ERROR)  # Rasa's structured debug lines would otherwise go to stdout


async def resolve_lines(model: Path) -> None:
    """Parse every stdin line and print its resolution."""
    from rasa.core.agent import Agent  # heavy: TensorFlow loads here, not at import time

    agent = Agent.load(str(model))
    for line in sys.stdin:
        text = line.rstrip("\r\n")
        result = {"item": None, "confidence": 0.0, "candidates": []}
        if text.strip():
            parsed = await agent.parse_message(text)
            resolution = parsed.get("item_resolution") or {}
            result = {k: resolution.get(k, result[k]) for k in result}
        print(json.dumps({"text": text, **result}, ensure_ascii=False), flush=True)


def main() -> int:
    """Entry point; exits 1 with a message when there is no trained model."""
    parser = argparse.ArgumentParser(prog="jiujin resolve", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL, help="trained model (default models/jiujin.tar.gz)"
    )
    args = parser.parse_args()
    if not args.model.exists():
        print(f"jiujin resolve: no trained model at {args.model}; run 'make model' first", file=sys.stderr)
        return 1
    quiet_rasa()
    asyncio.run(resolve_lines(args.model))
    return 0


if __name__ == "__main__":
    sys.exit(main())
