"""Run every benchmark and print its figures: ``python -m bench [--scale N] [--only PART] [--front URL]``."""

from __future__ import annotations

import argparse

from bench import (
    backend_bench,
    console_bench,
    devices_bench,
    dialogue_bench,
    load_bench,
    security_bench,
    voice_bench,
    wechat_bench,
)


def main() -> None:
    """Parse the options and print each part's report."""
    parser = argparse.ArgumentParser(description="jiujin benchmarks")
    parser.add_argument("--scale", type=int, default=10, help="multiplies the number of requests (default 10)")
    parts_named = ["backend", "dialogue", "wechat", "devices", "voice", "console", "security", "load"]
    parser.add_argument("--only", choices=parts_named, help="run one part")
    parser.add_argument("--no-training", action="store_true", help="skip timing a full model training")
    parser.add_argument(
        "--front",
        help="load: measure the running stack at this URL (WECHAT_TOKEN/APPID/AES_KEY from the environment) "
        "instead of starting production stacks of 1 and 2 instances",
    )
    args = parser.parse_args()
    load_bench.stop_on_sigterm()  # the parts start servers: stop them too when the benchmark is stopped
    parts = {
        "backend": lambda: backend_bench.report(backend_bench.run(args.scale)),
        "dialogue": lambda: dialogue_bench.run(train=not args.no_training),
        "wechat": wechat_bench.run,
        "devices": devices_bench.run,
        "voice": voice_bench.run,
        "console": console_bench.run,
        "security": security_bench.run,
        "load": lambda: load_bench.run(args.front),
    }
    for name, part in parts.items():
        if args.only in (None, name):
            print(part(), end="\n\n", flush=True)


if __name__ == "__main__":
    main()
