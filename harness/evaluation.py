"""The held-out evaluation of the trained model, for tests and benchmarks."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from backend.config import PROJECT_ROOT
from harness.dialogue import MODEL, RASA_BIN, RASA_ENV


def heldout_evaluation(report: Path) -> dict[str, Any]:
    """Run ``bot.evaluate`` on the held-out and homophone sets with the trained model; return its report."""
    done = subprocess.run(
        [
            str(RASA_BIN / "python"),
            "-m",
            "bot.evaluate",
            "tests/nlu/heldout.yml",
            "tests/nlu/homophones.yml",
            "--model",
            str(MODEL),
            "--out",
            str(report),
        ],
        cwd=PROJECT_ROOT,
        env=os.environ | RASA_ENV,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bot.evaluate failed:\n{done.stderr[-3000:]}")
    return json.loads(report.read_text(encoding="utf-8"))
