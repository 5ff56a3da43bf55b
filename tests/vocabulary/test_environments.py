"""The vocabulary needs nothing but the standard library, under the Rasa environment's Python 3.10 as well."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import vocabulary

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(f"vocabulary.{module.name}" for module in pkgutil.iter_modules(vocabulary.__path__))


@pytest.mark.parametrize("python", [sys.executable, str(ROOT / ".venv-rasa" / "bin" / "python")], ids=["app", "rasa"])
def test_every_module_imports_without_site_packages(python: str) -> None:
    # -S: no site-packages, so any import beyond the standard library fails; -P is 3.11+, hence the explicit path.
    probe = f"import sys; sys.path.insert(0, {str(ROOT)!r}); import {', '.join(MODULES)}; print(sys.version_info[:2])"
    done = subprocess.run([python, "-S", "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert len(MODULES) >= 7
