"""The Rasa project with the trained model: data validation, conversation test stories, held-out item
accuracy (also with speech-recognition homophones), and the ``bin/jiujin resolve`` contract.

Data validation and ``bin/jiujin resolve`` run the Rasa environment's own tools (Python 3.10), each loading TensorFlow;
the test stories and the held-out sets go to the run's shared Rasa server, which has the trained model loaded already:
Rasa's own story test (``POST /model/test/stories``) and its parse (``POST /model/parse``, the path the bot takes).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.evaluate import score
from harness.dialogue import DialogueStack
from tests.conftest import SharedDialogue

ROOT = Path(__file__).resolve().parents[2]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
MODEL = ROOT / "models" / "jiujin.tar.gz"
REPORTS = ROOT / "var" / "reports"
ENV = os.environ | {
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "ACTION_SERVER_URL": "http://127.0.0.1:5055/webhook",
}
STORIES = ROOT / "tests" / "conversations"
HELDOUT = ROOT / "tests" / "nlu"
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


WRONG_STORY = """version: "3.1"
stories:
  - story: a greeting answered by filing a case
    steps:
      - user: |
          你好
        intent: greet
      - action: action_file_case
"""
"""A story no trained model predicts: the check below must catch it, or it could not catch anything."""


def _story_test(stack: DialogueStack, stories: str) -> tuple[float, dict[str, Any]]:
    """Rasa's story test of ``stories`` on the running server: the accuracy over every intent and action predicted,
    and the labels predicted wrongly at least once (their figures)."""
    tested = httpx.post(
        f"{stack.rasa}/model/test/stories",
        params={"token": stack.rasa_token, "e2e": "false"},
        content=stories.encode(),
        headers={"Content-Type": "application/x-yaml"},
        timeout=600,
    )
    assert tested.status_code == 200, tested.text[-3000:]
    evaluation = tested.json()
    wrong = {
        label: figures
        for label, figures in evaluation["report"].items()
        if isinstance(figures, dict) and figures.get("f1-score", 1.0) < 1.0
    }
    return evaluation["accuracy"], wrong


def test_conversation_stories_predict_every_action(shared_dialogue: SharedDialogue) -> None:
    """``rasa test core --fail-on-prediction-errors``, in the running server: every intent and action predicted."""
    for path in sorted(STORIES.glob("*.yml")):
        accuracy, wrong = _story_test(shared_dialogue.stack, path.read_text(encoding="utf-8"))
        assert accuracy == 1.0, (path.name, wrong)
    accuracy, wrong = _story_test(shared_dialogue.stack, WRONG_STORY)
    assert accuracy < 1.0 and "action_file_case" in wrong


@pytest.fixture(scope="module")
def heldout(shared_dialogue: SharedDialogue) -> dict[str, Any]:
    """The held-out and homophone sets parsed by the running server; the report is kept in var/reports."""
    stack = shared_dialogue.stack

    async def evaluate() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=stack.rasa, params={"token": stack.rasa_token}, timeout=60) as rasa:

            async def parse(text: str) -> dict[str, Any]:
                parsed = await rasa.post("/model/parse", json={"text": text})
                parsed.raise_for_status()
                return parsed.json()

            return await score(parse, [HELDOUT / "heldout.yml", HELDOUT / "homophones.yml"])

    report = asyncio.run(evaluate())
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "heldout.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return report


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
