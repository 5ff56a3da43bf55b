"""The two environments exist as the Makefile builds them, and rebuilding them is a no-op."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_environments_are_up_to_date_so_make_reinstalls_nothing() -> None:
    question = subprocess.run(
        ["make", "--question", "venv", "venv-rasa"], cwd=ROOT, capture_output=True, timeout=60, check=False
    )
    assert question.returncode == 0, "make would rebuild an environment although nothing changed"


def test_rasa_environment_is_python_310_with_rasa_3_6_21() -> None:
    probe = "import sys, importlib.metadata as m; print(sys.version_info[:2], m.version('rasa'), m.version('jieba'))"
    out = subprocess.run(
        [str(ROOT / ".venv-rasa" / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert out.startswith("(3, 10) 3.6.21 ")


def test_locks_pin_every_package() -> None:
    for lock in ("requirements/app.lock", "requirements/rasa.lock"):
        lines = [line for line in (ROOT / lock).read_text().splitlines() if line and not line.startswith("#")]
        assert lines and all("==" in line for line in lines), lock
