"""A stack as plain data: its parts, what each runs, how it says it is ready, and what it comes after."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class Part:
    """One process of a stack (a Rasa instance, an action server, a backend replica, nginx, a simulator …)."""

    name: str
    """Unique in its stack; also the name of its log (``<name>.log``) and of its systemd unit."""
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    """Added to the environment the supervisor passes on (see `Stack.withheld`)."""
    health_url: str | None = None
    """Ready once this answers: ``http://…`` with 200, ``redis://…`` to PING, ``tcp://host:port`` by accepting.
    None: ready once started (or, for a one-shot part, once it exited 0)."""
    ready_within_s: float = 60.0
    """How long the part may take to become ready before it counts as failed."""
    after: tuple[str, ...] = ()
    """Parts that must be ready before this one starts (systemd: ``After=`` and ``Requires=``)."""
    summary: str = ""
    """What the part is, in a few words (the systemd unit's ``Description=``)."""
    development_only: bool = False
    """A stand-in (the simulators): never part of a production unit set."""
    oneshot: bool = False
    """Runs to completion (a set-up step such as provisioning the counter): ready when it exited 0."""
    essential: bool = True
    """When it stops on its own the stack is broken; False: it may stop (or fail) and the rest carries on."""
    secrets: frozenset[str] = frozenset()
    """Names in ``env`` whose values are secret: passed to the process, never written into a unit file."""

    def with_env(self, extra: Mapping[str, str]) -> Part:
        """The same part with ``extra`` added to its environment."""
        return replace(self, env={**self.env, **extra})


class DescriptionError(ValueError):
    """A stack that cannot be started: a duplicate name, an unknown dependency or a cycle."""


@dataclass(frozen=True)
class Stack:
    """The parts of one profile of the system, and where their logs go."""

    profile: str
    """``development`` or ``production``."""
    parts: tuple[Part, ...]
    log_folder: Path
    withheld: frozenset[str] = frozenset()
    """Variables of the supervisor's own environment (its secrets) that a part gets only when its ``env`` names
    them; everything else the supervisor carries is passed on."""

    def __post_init__(self) -> None:
        self.start_order()  # refuse a broken description at once, not when it is started

    @property
    def names(self) -> list[str]:
        return [part.name for part in self.parts]

    def part(self, name: str) -> Part:
        return next(part for part in self.parts if part.name == name)

    def start_order(self) -> list[list[Part]]:
        """The parts in groups: every part of a group comes after parts of earlier groups only, so a group starts
        together and the next one once all of it is ready. Within a group, the description's order is kept."""
        names = self.names
        if len(set(names)) != len(names):
            raise DescriptionError(f"a part name is used twice: {names}")
        for part in self.parts:
            unknown = set(part.after) - set(names)
            if unknown:
                raise DescriptionError(f"{part.name} comes after {sorted(unknown)}, which are not in the stack")
        groups: list[list[Part]] = []
        placed: set[str] = set()
        waiting = list(self.parts)
        while waiting:
            group = [part for part in waiting if set(part.after) <= placed]
            if not group:
                raise DescriptionError(f"the parts {[p.name for p in waiting]} wait for each other")
            groups.append(group)
            placed |= {part.name for part in group}
            waiting = [part for part in waiting if part.name not in placed]
        return groups

    def without(self, names: Iterable[str]) -> Stack:
        """The stack without the named parts (and without them in the others' ``after``)."""
        dropped = set(names)
        kept = tuple(
            replace(part, after=tuple(a for a in part.after if a not in dropped))
            for part in self.parts
            if part.name not in dropped
        )
        return replace(self, parts=kept)

    def for_production_units(self) -> Stack:
        """The stack without its development-only parts (what systemd runs on a real site)."""
        return self.without(part.name for part in self.parts if part.development_only)
