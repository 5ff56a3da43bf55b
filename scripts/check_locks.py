"""Check that the locks under requirements/ install what pyproject.toml asks for, each pin with its hashes.

pyproject.toml is the one source of what is installed; the locks are compiled from it by `make lock`. This check
runs before an environment is built (and in the tests), so a dependency added to pyproject.toml without
re-locking stops the build with a message instead of going silently missing. What it checks, per lock:

- every package is pinned with ``==`` and carries at least one ``--hash`` (pip's ``--require-hashes`` needs both);
- every direct requirement of its part of pyproject.toml is in it, at the version pyproject.toml pins;
- the runtime lock holds no direct development requirement (pytest, playwright, …) and pins every package it
  shares with the development lock at the same version, so the tests run what production runs.

Standard library only (Python 3.11 for tomllib): it runs before any environment exists.
Usage: ``python scripts/check_locks.py [PROJECT_ROOT]``; exit status 1 and one line per disagreement on stderr.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(?:==\s*([^\s;,]+))?")
"""A requirement's name, extras and ``==`` version (None for any other specifier); markers are not evaluated."""


@dataclass(frozen=True)
class Lock:
    """One compiled lock file, the pyproject.toml requirements it must satisfy, and what it installs."""

    path: str
    """Path under the project root."""
    parts: tuple[str, ...]
    """``project`` for [project.dependencies], else a dependency group's name."""


RUNTIME = Lock("requirements/runtime.lock", ("project",))
DEV = Lock("requirements/dev.lock", ("project", "dev"))
RASA = Lock("requirements/rasa.lock", ("rasa",))
LOCKS = (RUNTIME, DEV, RASA)


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them (``RapidFuzz`` = ``rapidfuzz``, ``zope.event`` = ``zope-event``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement(text: str) -> tuple[str, str | None]:
    """``"psycopg[binary]==3.3.9"`` → ``("psycopg", "3.3.9")``; the version is None when not pinned with ``==``."""
    match = REQUIREMENT.match(text)
    if match is None:
        raise ValueError(f"cannot read the requirement {text!r}")
    return normalise(match.group(1)), match.group(3)


def direct_requirements(pyproject: dict, part: str) -> list[str]:
    """The requirement strings of [project.dependencies] (``project``) or of one dependency group (PEP 735)."""
    if part == "project":
        return list(pyproject["project"].get("dependencies", []))
    groups = pyproject.get("dependency-groups", {})
    if part not in groups:
        raise ValueError(f"pyproject.toml has no dependency group {part!r}")
    found: list[str] = []
    for entry in groups[part]:
        found += direct_requirements(pyproject, entry["include-group"]) if isinstance(entry, dict) else [entry]
    return found


def pins(lock_text: str) -> tuple[dict[str, str], list[str]]:
    """The lock's pins ``{name: version}`` and its problems (an entry without ``==`` or without a hash)."""
    entries = re.sub(r"\\\n", " ", lock_text).splitlines()
    found: dict[str, str] = {}
    problems: list[str] = []
    for entry in entries:
        if not entry.strip() or entry.lstrip().startswith(("#", "-")):
            continue
        name, version = requirement(entry)
        if version is None:
            problems.append(f"{name} is not pinned with ==")
            continue
        if "--hash=" not in entry:
            problems.append(f"{name}=={version} has no --hash")
        found[name] = version
    return found, problems


def disagreements(root: Path) -> list[str]:
    """Every way the locks under ``root`` disagree with its pyproject.toml or with each other; empty when none."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    problems: list[str] = []
    locked: dict[Lock, dict[str, str]] = {}
    for lock in LOCKS:
        path = root / lock.path
        if not path.is_file():
            problems.append(f"{lock.path} is missing")
            continue
        locked[lock], own = pins(path.read_text(encoding="utf-8"))
        problems += [f"{lock.path}: {problem}" for problem in own]
        for part in lock.parts:
            where = "[project.dependencies]" if part == "project" else f"dependency group {part!r}"
            for text in direct_requirements(pyproject, part):
                name, version = requirement(text)
                if name not in locked[lock]:
                    problems.append(f"{lock.path} lacks {text!r} of pyproject.toml's {where}")
                elif version is not None and locked[lock][name] != version:
                    problems.append(
                        f"{lock.path} pins {name}=={locked[lock][name]}, pyproject.toml's {where} asks for {text!r}"
                    )
    if RUNTIME in locked and DEV in locked:
        runtime_names = {requirement(text)[0] for text in direct_requirements(pyproject, "project")}
        for text in direct_requirements(pyproject, "dev"):
            name, _ = requirement(text)
            if name in locked[RUNTIME] and name not in runtime_names:
                problems.append(f"{RUNTIME.path} holds the development requirement {name}")
        for name, version in locked[RUNTIME].items():
            if locked[DEV].get(name) != version:
                problems.append(
                    f"{RUNTIME.path} pins {name}=={version} but {DEV.path} has {locked[DEV].get(name) or 'none'}"
                )
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    problems = disagreements(root)
    for problem in problems:
        print(f"check_locks: {problem}", file=sys.stderr)
    if problems:
        print("check_locks: the locks disagree with pyproject.toml; run `make lock`", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
