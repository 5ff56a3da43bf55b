"""``python -m stack run``: ``make run``, the development stack on embedded defaults.

Starts every part in order, waiting until each answers, prints where to reach them, and stops everything (in
reverse order) on Ctrl-C or SIGTERM, or when a part stops on its own (exit 1: see var/log/). Killed outright, it
takes its parts with it (`stack.process`). ``python -m stack parts`` lists the parts without starting them.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType

from stack import development
from stack.process import PROJECT_ROOT, PartFailed
from stack.supervisor import Supervisor

log = logging.getLogger("stack")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _tighten(folder: os.PathLike[str] | str) -> None:
    """Data written before the umask applied (an older checkout) is made its owner's alone too."""
    for root, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode & 0o700)


def run() -> int:
    """Run the development stack until Ctrl-C (0) or until a part stops (1)."""
    os.umask(0o077)  # the database, uploads, secrets and logs are their owner's only
    os.chdir(PROJECT_ROOT)
    development.VAR.mkdir(exist_ok=True)
    _tighten(development.VAR)
    described = development.stack(os.environ)
    supervisor = Supervisor(described)
    # While starting, Ctrl-C and SIGTERM interrupt the wait; the supervisor stops what it started.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        supervisor.start()
    except PartFailed as failed:
        print(f"{failed}\nsee {described.log_folder}/", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        print(development.banner(described, os.environ), flush=True)
        stopped = supervisor.watch(stop, restart=False)
    finally:
        supervisor.stop()
    if stopped is not None:
        print(f"{stopped.name}, a part of the stack, stopped; see var/log/{stopped.name}.log", file=sys.stderr)
        return 1
    return 0


def parts() -> int:
    """Print the development stack's parts in start order."""
    described = development.stack(os.environ)
    for number, group in enumerate(described.start_order(), 1):
        for part in group:
            ready = part.health_url or ("exit 0" if part.oneshot else "started")
            print(f"{number}. {part.name:<18} {' '.join(part.command)}   (ready: {ready})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "parts"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the health checks
    return run() if args.command == "run" else parts()


if __name__ == "__main__":
    sys.exit(main())
