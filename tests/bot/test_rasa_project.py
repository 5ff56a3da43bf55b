"""The Rasa project with the trained model: data validation, conversation test stories, held-out item
accuracy (also with speech-recognition homophones), and the ``bin/jiujin resolve`` contract.

These run the Rasa environment's own tools (Python 3.10) on ``models/jiujin.tar.gz``, which ``make test``
trains first; each loads TensorFlow, so they are grouped per tool.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from backend.testing import heldout_evaluation

ROOT = Path(__file__).resolve().parents[2]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
MODEL = ROOT / "models" / "jiujin.tar.gz"
REPORTS = ROOT / "var" / "reports"
ENV = os.environ | {
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "ACTION_SERVER_URL": "http://127.0.0.1:5055/webhook",
}
DATA = ["--domain", "bot/domain", "--data", "nlu_data", "bot/stories", "bot/rules", "--config", "config.yml"]


@pytest.fixture(scope="module", autouse=True)
def trained_model() -> None:
    if not MODEL.exists():
        pytest.fail("no trained model: run 'make model' (make test does it first)")


def rasa(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RASA_PYTHON), "-m", "rasa", *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_data_validates() -> None:
    done = rasa("data", "validate", *DATA)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_conversation_stories_predict_every_action() -> None:
    out = REPORTS / "core"
    done = rasa(
        "test",
        "core",
        "--model",
        str(MODEL),
        "--stories",
        "tests/conversations",
        "--fail-on-prediction-errors",
        "--out",
        str(out),
    )
    failed = out / "failed_test_stories.yml"
    detail = failed.read_text(encoding="utf-8")[-4000:] if failed.exists() else done.stderr[-3000:]
    assert done.returncode == 0, detail


@pytest.fixture(scope="module")
def heldout() -> dict:
    return heldout_evaluation(REPORTS / "heldout.json")


def test_heldout_item_accuracy(heldout: dict) -> None:
    # Floors that catch a regression; make bench reports the figures against the 95 % target.
    figures = heldout["heldout.yml"]
    misses = [m for m in figures["misses"] if m["gold"].startswith("item_")]
    assert figures["accuracy"]["item_top1"] >= 0.93, misses[:15]
    assert figures["accuracy"]["item"] >= 0.88, misses[:15]


def test_out_of_scope_is_not_taken_for_an_item(heldout: dict) -> None:
    figures = heldout["heldout.yml"]
    misses = [m for m in figures["misses"] if m["gold"] == "out_of_scope"]
    assert figures["accuracy"]["out_of_scope"] >= 0.93, misses


def test_homophone_accuracy(heldout: dict) -> None:
    figures = heldout["homophones.yml"]
    assert figures["accuracy"]["item"] >= 0.88, figures["misses"][:15]


def test_resolve_command_contract() -> None:
    lines = ["我想办居住证", "坐公交不要钱那个卡", "残疾正怎么办", "我要办护照", ""]
    done = subprocess.run(
        [str(ROOT / "bin" / "jiujin"), "resolve"],
        input="\n".join(lines) + "\n",
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["text"] for r in results] == lines
    for result in results:
        assert set(result) == {"text", "item", "confidence", "candidates"}
        assert isinstance(result["confidence"], float) and isinstance(result["candidates"], list)
    assert [r["item"] for r in results] == [
        "residence_permit",
        "senior_transit_card",
        "disability_certificate",
        None,
        None,
    ]
    assert results[0]["confidence"] == 1.0 and results[3]["candidates"] == []
