"""The environments as the Makefile builds them: each from its own lock with every hash checked, rebuilt only when
that changed; `make run` and `make test` on the development one, `make run-prod` on the runtime one."""

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


def test_each_environment_installs_its_own_lock_with_hashes_and_production_runs_the_runtime_one() -> None:
    every_step = subprocess.run(
        ["make", "--dry-run", "--always-make", "venv", "venv-prod", "venv-rasa", "run-prod"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    installs = {line.split()[0]: line.split()[-1] for line in every_step if "--require-hashes -r" in line}
    assert installs == {
        ".venv/bin/python": "requirements/dev.lock",
        ".venv-prod/bin/python": "requirements/runtime.lock",
        ".venv-rasa/bin/python": "requirements/rasa.lock",
    }
    assert (
        [line for line in every_step if " -m deploy" in line][-1].rstrip().endswith(".venv-prod/bin/python -m deploy")
    )
    checks = [line for line in every_step if line.endswith("scripts/check_locks.py")]
    assert len(checks) == 3  # before each environment is built
