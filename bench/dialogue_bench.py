"""Dialogue figures: held-out item accuracy (plain and with homophones), REST turn latency, training time."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from backend.config import PROJECT_ROOT
from harness.dialogue import RASA_BIN, RASA_ENV, dialogue_stack
from harness.evaluation import heldout_evaluation

CONVERSATION = ["你好", "我想办居住证", "3", "要多久", "收费吗", "老年卡在哪办", "我想办护照", "谢谢"]


def turn_latency(tmp: Path, users: int, conversations: int) -> dict:
    """Whole conversations over the REST channel, ``users`` at a time; per-turn latency percentiles."""
    with dialogue_stack(tmp) as running:
        rasa = running.rasa

        def converse(_: int) -> list[float]:
            sender, times = f"bench-{uuid.uuid4().hex[:8]}", []
            with httpx.Client(timeout=60) as client:
                for text in CONVERSATION:
                    started = time.perf_counter()
                    client.post(f"{rasa}/webhooks/rest/webhook", json={"sender": sender, "message": text})
                    times.append(time.perf_counter() - started)
            return times

        converse(0)  # warm up
        started = time.perf_counter()
        with ThreadPoolExecutor(users) as pool:
            latencies = [t for times in pool.map(converse, range(conversations)) for t in times]
        elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100)
    return {
        "turns": len(latencies),
        "users": users,
        "p50_ms": q[49] * 1000,
        "p95_ms": q[94] * 1000,
        "turns_per_s": len(latencies) / elapsed,
    }


def training_time(tmp: Path) -> float:
    """Seconds for a full `rasa train` with an empty component cache."""
    env = os.environ | RASA_ENV | {"RASA_CACHE_DIRECTORY": str(tmp / "cache")}
    started = time.perf_counter()
    subprocess.run(
        [
            str(RASA_BIN / "rasa"),
            "train",
            "--config",
            "config.yml",
            "--domain",
            "bot/domain",
            "--data",
            "nlu_data",
            "bot/stories",
            "bot/rules",
            "--out",
            str(tmp / "models"),
            "--fixed-model-name",
            "bench",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def run(*, train: bool, users: int = 4, conversations: int = 20) -> str:
    """Measure everything and return the report."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        figures = heldout_evaluation(tmp / "heldout.json")
        latency = turn_latency(tmp, users, conversations)
        seconds = training_time(tmp) if train else None
    held, homo = figures["heldout.yml"], figures["homophones.yml"]
    lines = [
        "dialogue (trained model models/jiujin.tar.gz)",
        f"held-out items   top-1 {held['accuracy']['item_top1']:.1%}  decided without asking "
        f"{held['accuracy']['item']:.1%}  ({held['counts']['item'][1]} utterances; target top-1 >= 95%)",
        f"homophone noise  top-1 {homo['accuracy']['item_top1']:.1%}  decided {homo['accuracy']['item']:.1%}  "
        f"({homo['counts']['item'][1]} utterances; target >= 85%)",
        f"out of scope     no item {held['accuracy']['out_of_scope']:.1%}  "
        f"({held['counts']['out_of_scope'][1]} utterances); other intents {held['accuracy']['intent']:.1%}",
        f"parse            {held['ms_per_parse']:.1f} ms per utterance (in process)",
        f"REST turn        p50 {latency['p50_ms']:.0f} ms  p95 {latency['p95_ms']:.0f} ms  "
        f"({latency['turns']} turns, {latency['users']} users at once, {latency['turns_per_s']:.1f} turns/s; "
        "WeChat allows 5000 ms)",
    ]
    if seconds is not None:
        lines.append(f"training         {seconds:.0f} s for a full `rasa train` (empty cache, 2 cores)")
    return "\n".join(lines)
