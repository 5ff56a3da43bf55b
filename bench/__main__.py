"""Run every benchmark and print its figures: ``python -m bench [--scale N] [--only PART]``."""

from __future__ import annotations

import argparse

from bench import backend_bench, console_bench, devices_bench, dialogue_bench, voice_bench, wechat_bench


def main() -> None:
    """Parse the options and print each part's report."""
    parser = argparse.ArgumentParser(description="jiujin benchmarks")
    parser.add_argument("--scale", type=int, default=10, help="multiplies the number of requests (default 10)")
    parts_named = ["backend", "dialogue", "wechat", "devices", "voice", "console"]
    parser.add_argument("--only", choices=parts_named, help="run one part")
    parser.add_argument("--no-training", action="store_true", help="skip timing a full model training")
    args = parser.parse_args()
    parts = {
        "backend": lambda: backend_bench.report(backend_bench.run(args.scale)),
        "dialogue": lambda: dialogue_bench.run(train=not args.no_training),
        "wechat": wechat_bench.run,
        "devices": devices_bench.run,
        "voice": voice_bench.run,
        "console": console_bench.run,
    }
    for name, part in parts.items():
        if args.only in (None, name):
            print(part(), end="\n\n", flush=True)


if __name__ == "__main__":
    main()
