"""Run a stack: start its parts in order and wait for each group to be ready, restart or report a part that stops,
and stop everything in reverse order. Used by ``make run``, ``make run-prod`` (`deploy`) and the tests' harness."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from stack.parts import Stack
from stack.process import PartFailed, RunningPart

log = logging.getLogger(__name__)

RESTART_PAUSE_S = 1.0
"""How often stopped parts are looked for."""


class Supervisor:
    """The running parts of ``stack``, by name, in the order they were described."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.parts = {
            part.name: RunningPart(part, stack.log_folder / f"{part.name}.log", withheld=stack.withheld)
            for part in stack.parts
        }
        self._started: list[RunningPart] = []

    def part(self, name: str) -> RunningPart:
        return self.parts[name]

    def start(self) -> None:
        """Start every part, a group at a time, each group once the one before is ready. PartFailed (with what
        was started stopped again) when an essential part does not become ready."""
        try:
            for group in self.stack.start_order():
                for part in group:
                    self.parts[part.name].start()
                    self._started.append(self.parts[part.name])
                for part in group:
                    try:
                        self.parts[part.name].wait_ready()
                    except PartFailed as failed:
                        if part.essential:
                            raise
                        log.warning("%s (the rest carries on)", failed)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every started part, in reverse order."""
        while self._started:
            self._started.pop().stop()

    def stopped_parts(self) -> list[RunningPart]:
        """Essential long-running parts that were started and have stopped on their own (not those stopped or
        killed through `RunningPart`)."""
        return [
            part
            for part in self._started
            if part.description.essential
            and not part.description.oneshot
            and part.process is not None
            and part.process.poll() is not None
        ]

    def watch(
        self,
        stop: threading.Event,
        *,
        restart: bool,
        every_pass: Callable[[], None] | None = None,
    ) -> RunningPart | None:
        """Until ``stop`` is set: restart an essential part that stopped (``restart``, as systemd's
        ``Restart=on-failure`` would), or return it (the stack is broken). ``every_pass`` runs on each look."""
        while not stop.wait(RESTART_PAUSE_S):
            for part in self.stopped_parts():
                code = part.process.returncode if part.process is not None else None
                if not restart:
                    return part
                log.warning("%s stopped (exit %s): restarting it", part.name, code)
                part.kill()  # what is left of it (a server's workers would keep its port)
                part.start()
                try:
                    part.wait_ready()
                    log.info("%s is back", part.name)
                except PartFailed as failed:
                    log.error("%s", failed)
            if every_pass is not None:
                every_pass()
        return None


@contextmanager
def running(stack: Stack) -> Iterator[Supervisor]:
    """``stack`` started (every part ready) for the ``with`` block, stopped in reverse order afterwards."""
    supervisor = Supervisor(stack)
    supervisor.start()
    try:
        yield supervisor
    finally:
        supervisor.stop()
