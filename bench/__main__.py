"""Run every benchmark and print its figures: ``python -m bench [--scale N]``."""

from __future__ import annotations

import argparse

from bench import backend_bench, dialogue_bench


def main() -> None:
    """Parse the scale and print each part's report."""
    parser = argparse.ArgumentParser(description="jiujin benchmarks")
    parser.add_argument("--scale", type=int, default=10, help="multiplies the number of requests (default 10)")
    parser.add_argument("--no-training", action="store_true", help="skip timing a full model training")
    args = parser.parse_args()
    print(backend_bench.report(backend_bench.run(args.scale)), flush=True)
    print(flush=True)
    print(dialogue_bench.run(train=not args.no_training), flush=True)


if __name__ == "__main__":
    main()
