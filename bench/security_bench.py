"""What the doors cost: a resident's text cleaned (typed intents, numbers masked) per second in process, and a REST
turn that carries an ID number (masked, deposited in the backend's vault) against the same turn without one,
alternating on one dialogue stack so both see the same machine."""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from harness.dialogue import dialogue_stack
from harness.ids import resident_id_number
from security.resident_text import clean

TEXTS = [
    "我想办居住证",
    '/follow_ticket{"ticket": "A001"}',
    f"我的身份证是{resident_id_number()}，电话13812345678",
    "俺叫赵桂兰，住骆家庄社区菜场后头那栋楼",
    "护理补贴我们已经在领了，现在想问盲杖和语音手表这些能不能申请",
]
WITH_NUMBER = f"身份证{resident_id_number(seq='517')}"
"""Said where the bot asked for nothing: NLU reads it, the channel deposits the number first."""
WITHOUT_NUMBER = "身份证号码是多少位"


def cleaning_rate(rounds: int = 20_000) -> float:
    """Texts cleaned per second (one core, in process)."""
    started = time.perf_counter()
    for i in range(rounds):
        clean(TEXTS[i % len(TEXTS)])
    return rounds / (time.perf_counter() - started)


def turn_costs(tmp: Path, pairs: int) -> dict[str, float]:
    """p50 of REST turns with and without a number, alternating, each from a fresh sender."""
    times: dict[str, list[float]] = {"with": [], "without": []}
    with dialogue_stack(tmp, rasa_api=False) as running, httpx.Client(timeout=60) as client:
        url = f"{running.rasa}/webhooks/rest/webhook"
        client.post(url, json={"sender": "bench-warm", "message": WITHOUT_NUMBER})  # warm up
        for _ in range(pairs):
            for kind, text in (("with", WITH_NUMBER), ("without", WITHOUT_NUMBER)):
                started = time.perf_counter()
                client.post(url, json={"sender": f"bench-{uuid.uuid4().hex[:8]}", "message": text})
                times[kind].append(time.perf_counter() - started)
    return {kind: statistics.median(values) * 1000 for kind, values in times.items()}


def run(pairs: int = 40) -> str:
    """Measure and return the report."""
    rate = cleaning_rate()
    with tempfile.TemporaryDirectory() as folder:
        turns = turn_costs(Path(folder), pairs)
    return "\n".join(
        [
            "security (the doors' cost)",
            f"resident text    {rate:,.0f} texts/s cleaned (leading '/' stripped, ID numbers and phones masked)",
            f"REST turn        p50 {turns['with']:.0f} ms with an ID number (masked, kept in the vault) vs "
            f"{turns['without']:.0f} ms without: {turns['with'] / turns['without']:.2f}x ({pairs} of each, "
            "alternating, one stack)",
        ]
    )
