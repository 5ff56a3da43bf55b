"""Load figures: how many residents one stack serves with every WeChat reply inside 4.5 s, and how that grows from
one instance to two.

Residents are played by locust (bench/load/residents.py), run headless as a subprocess, since gevent monkey-patches
the process it runs in. A level is a number of users chatting at once; it holds when, over the measurement window
after a warm-up, every WeChat turn was answered passively within 4.5 s (no timeout, no error, no acknowledgement
in place of the answer). The user count steps up a ladder to the first level that does not hold, then is bisected
between the last level that held and that one to about 10 %: the last level that held is the sustained one.

    python -m bench --only load                     # production stacks (deploy/stack.py): 1 and 2 instances
    python -m bench.load_bench --front URL          # a running stack; WECHAT_* in the environment
    python -m bench.load_bench --dev --ladder 5,10  # the development stack (one Rasa), started here
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from backend.config import PROJECT_ROOT

logger = logging.getLogger(__name__)

LOCUSTFILE = PROJECT_ROOT / "bench" / "load" / "residents.py"
LIMIT_S = 4.5
LADDER = (10, 20, 40, 60, 80, 120, 160, 240, 320, 480, 640)
SATURATED = "CPU usage above"
"""What locust logs when its own process is short of CPU: its latencies then include its own queueing."""


@dataclass(frozen=True)
class Options:
    """How each level is measured."""

    warmup_s: float = 20.0
    """Seconds from the start of a level to the start of its measurement (users ramp up in the first half)."""
    measure_s: float = 45.0
    """Seconds of measurement per level."""
    cooldown_s: float = 15.0
    """Seconds between levels, for turns still running (answered late, by customer service) to drain."""
    think_s: tuple[float, float] = (3.0, 8.0)
    """A resident's pause before each message, in seconds (shortest, longest)."""
    ladder: tuple[int, ...] = LADDER
    """User counts tried in turn until one does not hold."""
    resolution: float = 0.1
    """Bisecting stops when the first failing count is within this fraction of the last holding one."""
    scripts: str = ""
    """LOAD_SCRIPTS for the locustfile: name patterns of the conversations to play ("" = all)."""
    folder: Path | None = None
    """Where locust's CSV, JSON and log files are kept (None: a temporary folder)."""


@dataclass(frozen=True)
class Level:
    """What one user count achieved over its measurement window."""

    users: int
    measured_s: float
    wechat_turns: int
    wechat_failures: int
    rest_turns: int
    rest_failures: int
    p50_ms: float
    """WeChat round trips, every kind of turn together."""
    p95_ms: float
    max_ms: float
    reasons: tuple[str, ...] = ()
    """Why turns failed, with counts: "wechat: text: acknowledged: … ×3"."""
    generator_saturated: bool = False
    """Locust itself ran short of CPU: latencies include its own queueing."""

    @property
    def ok(self) -> bool:
        """Every WeChat turn was answered passively within the limit (and there were some)."""
        return self.wechat_turns > 0 and self.wechat_failures == 0

    @property
    def wechat_rate(self) -> float:
        return self.wechat_turns / self.measured_s

    @property
    def rest_rate(self) -> float:
        return self.rest_turns / self.measured_s

    def row(self) -> str:
        failures = f"{self.wechat_failures} WeChat, {self.rest_failures} REST"
        note = "  (locust short of CPU)" if self.generator_saturated else ""
        return (
            f"  {self.users:>5} {self.wechat_rate:>9.2f} {self.rest_rate:>7.2f} {self.p50_ms:>7.0f} {self.p95_ms:>7.0f}"
            f" {self.max_ms:>7.0f}  {failures}{note}"
        )


@dataclass(frozen=True)
class Levels:
    """Every level measured, in user order, and the sustained one (None: not even the smallest held)."""

    levels: tuple[Level, ...]
    sustained: Level | None
    options: Options = field(default_factory=Options)

    @property
    def users(self) -> int:
        return self.sustained.users if self.sustained else 0

    def table(self) -> list[str]:
        lines = ["  users  WeChat/s  REST/s  p50 ms  p95 ms  max ms  failed turns"]
        for level in self.levels:
            lines.append(level.row())
            lines.extend(f"          {reason}" for reason in level.reasons[:4])
        return lines


def percentile(histogram: dict[int, int], fraction: float) -> float:
    """The smallest response time (ms) at or below which ``fraction`` of the counted requests fall."""
    total = sum(histogram.values())
    if not total:
        return 0.0
    seen = 0
    for time_ms in sorted(histogram):
        seen += histogram[time_ms]
        if seen >= fraction * total:
            return float(time_ms)
    return float(max(histogram))


def parse_level(users: int, measured_s: float, prefix: Path, log: str = "") -> Level:
    """A Level from locust's files: ``<prefix>.json`` (final statistics, with each entry's response-time histogram,
    so WeChat's percentiles are exact over all its kinds of turn) and ``<prefix>_failures.csv`` (the reasons)."""
    entries = json.loads(prefix.with_name(prefix.name + ".json").read_text(encoding="utf-8"))
    wechat = [e for e in entries if e["name"].startswith("wechat: ")]
    rest = [e for e in entries if e["name"].startswith("rest: ")]
    histogram: Counter[int] = Counter()
    for entry in wechat:
        histogram.update({int(ms): count for ms, count in entry["response_times"].items()})
    max_ms = max((float(e["max_response_time"]) for e in wechat), default=0.0)
    reasons: list[str] = []
    failures = prefix.with_name(prefix.name + "_failures.csv")
    if failures.exists():
        with failures.open(encoding="utf-8", newline="") as file:
            for row in csv.DictReader(file):
                error = row["Error"].removeprefix("CatchResponseError(").removesuffix(")").strip("'\"")
                reasons.append(f"{row['Name']}: {error} ×{row['Occurrences']}")
    return Level(
        users=users,
        measured_s=measured_s,
        wechat_turns=sum(e["num_requests"] for e in wechat),
        wechat_failures=sum(e["num_failures"] for e in wechat),
        rest_turns=sum(e["num_requests"] for e in rest),
        rest_failures=sum(e["num_failures"] for e in rest),
        # Locust keeps response times rounded to two significant digits: a percentile may round past the maximum.
        p50_ms=min(percentile(histogram, 0.5), max_ms),
        p95_ms=min(percentile(histogram, 0.95), max_ms),
        max_ms=max_ms,
        reasons=tuple(reasons),
        generator_saturated=SATURATED in log,
    )


def run_level(front: str, wechat_env: dict[str, str], users: int, options: Options, folder: Path) -> Level:
    """Run locust headless with ``users`` residents against ``front`` for the warm-up plus the measurement."""
    prefix = folder / f"users-{users}"
    spawn_rate = max(users / max(options.warmup_s / 2, 1.0), 1.0)  # everyone in within half the warm-up
    run_time = math.ceil(options.warmup_s + options.measure_s)
    command = [
        *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", front.rstrip("/")),
        *("-u", str(users), "-r", f"{spawn_rate:.2f}", "-t", f"{run_time}s", "--only-summary"),
        *("--csv", str(prefix), "--json-file", str(prefix), "--exit-code-on-error", "0"),
    ]  # fmt: skip
    knobs = {
        "LOAD_THINK_MIN_S": str(options.think_s[0]),
        "LOAD_THINK_MAX_S": str(options.think_s[1]),
        "LOAD_WARMUP_S": str(options.warmup_s),
        "LOAD_SCRIPTS": options.scripts,
    }
    env = os.environ | wechat_env | knobs
    log_path = prefix.with_name(prefix.name + ".log")
    with log_path.open("wb") as log:
        done = subprocess.run(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=options.warmup_s + options.measure_s + 120,
            check=False,
        )
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    if done.returncode != 0 or not prefix.with_name(prefix.name + ".json").exists():
        raise RuntimeError(f"locust failed ({done.returncode}) at {users} users; its log ends:\n{log_text[-3000:]}")
    level = parse_level(users, options.measure_s, prefix, log_text)
    logger.info("%d users: %s", users, level.row().strip())
    return level


def sustained_users(
    front: str, wechat_env: dict[str, str], options: Options | None = None, **overrides: object
) -> Levels:
    """Step up the ladder to the first user count that does not hold, then bisect below it to the resolution.

    ``front`` is the base URL with both webhooks; ``wechat_env`` the WECHAT_* settings the webhook was started with.
    Keyword overrides replace fields of ``options`` (``measure_s=60``)."""
    options = dataclasses.replace(options or Options(), **overrides)
    measured: dict[int, Level] = {}
    with _folder(options.folder) as folder:

        def holds(users: int) -> bool:
            if measured:
                time.sleep(options.cooldown_s)
            measured[users] = run_level(front, wechat_env, users, options, folder)
            return measured[users].ok

        good, bad = 0, None
        for users in options.ladder:
            if not holds(users):
                bad = users
                break
            good = users
        while bad is not None and bad - good > max(1, round(options.resolution * good)):
            middle = (good + bad) // 2
            good, bad = (middle, bad) if holds(middle) else (good, middle)
    levels = tuple(measured[users] for users in sorted(measured))
    return Levels(levels, measured.get(good), options)


@contextmanager
def _folder(folder: Path | None) -> Iterator[Path]:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="load-") as temporary:
        yield Path(temporary)


@contextmanager
def dev_stack(folder: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """The development stack (one backend, one action server, one Rasa with WeChat in safe mode, the simulator's
    API stand-in): its front (Rasa itself) and WeChat settings."""
    from bench.wechat_bench import WECHAT_ENV, wechat_stack

    with wechat_stack(folder) as (stack, _, _):
        yield stack.rasa, dict(WECHAT_ENV)


def _heading(options: Options, what: str) -> str:
    low, high = options.think_s
    return (
        f"load ({what})\n"
        f"locust residents, 3 on WeChat (safe mode) to 1 on REST, {low:g}–{high:g} s to type each message\n"
        f"sustained = most users with every WeChat turn answered passively within {LIMIT_S} s"
        f" over {options.measure_s:g} s after a {options.warmup_s:g} s warm-up"
    )


def report_one(levels: Levels, what: str) -> str:
    """One stack's figures."""
    best = levels.sustained
    rates = f": WeChat {best.wechat_rate:.2f} turns/s, REST {best.rest_rate:.2f} turns/s" if best else ""
    return "\n".join([_heading(levels.options, what), f"sustained users  {levels.users}{rates}", *levels.table()])


def report_scaling(results: dict[int, Levels]) -> str:
    """Instances side by side: sustained users and turn rates at that level, and the ratio of the last to the first."""
    counts = sorted(results)
    first, last = results[counts[0]], results[counts[-1]]

    def figures(levels: Levels) -> tuple[float, float, float]:
        best = levels.sustained
        return (levels.users, best.wechat_rate if best else 0.0, best.rest_rate if best else 0.0)

    names = [f"{n} instance{'s' if n > 1 else ''}" for n in counts]
    compared = len(counts) > 1
    ratio_heading = f"{f'{counts[-1]}/{counts[0]}':>10}" if compared else ""
    lines = [
        _heading(first.options, "production stacks: nginx, N Rasa, N action servers, N backends, PostgreSQL, Redis"),
        f"{'':<18}" + "".join(f"{name:>14}" for name in names) + ratio_heading,
    ]
    for row, label, digits in ((0, "sustained users", 0), (1, "WeChat turns/s", 2), (2, "REST turns/s", 2)):
        values = [figures(results[n])[row] for n in counts]
        base, top = figures(first)[row], figures(last)[row]
        ratio = (f"{top / base:.2f}" if base else "–") if compared else ""
        lines.append(f"{label:<18}" + "".join(f"{v:>14.{digits}f}" for v in values) + f"{ratio:>10}".rstrip())
    for n, name in zip(counts, names, strict=True):
        lines += [f"{name}:", *results[n].table()]
    return "\n".join(lines)


def run(front: str | None = None, instances: Sequence[int] = (1, 2), options: Options | None = None) -> str:
    """Measure and return the report: ``front`` given, that running stack (WECHAT_* from the environment); else
    production stacks of each instance count, one after the other."""
    options = options or Options()
    if front:
        wechat_env = {key: value for key, value in os.environ.items() if key.startswith("WECHAT_")}
        return report_one(sustained_users(front, wechat_env, options), f"the stack at {front}")
    from deploy.stack import StackConfig, production_stack

    results: dict[int, Levels] = {}
    for count in instances:
        # Databases and a Redis of the benchmark's own: every count starts empty, and no one's data is touched.
        config = StackConfig(
            folder=Path(tempfile.mkdtemp(prefix=f"load-stack-{count}-")),
            instances=count,
            database=f"jiujin_load_{count}",
            tracker_database=f"jiujin_load_tracker_{count}",
            private_redis=True,
            app_role=f"jiujin_load_{count}",
            demo=True,  # development WeChat credentials and generated secrets: a benchmark, not residents' data
        )
        with production_stack(config, drop_databases=True) as stack:
            results[count] = sustained_users(stack.front, dict(stack.wechat_env), options)
        shutil.rmtree(config.folder, ignore_errors=True)
    return report_scaling(results)


def stop_on_sigterm() -> None:
    """Unwind on SIGTERM (``timeout``, a CI's stop) as on Ctrl-C, so the stacks started here are stopped too."""
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m bench.load_bench``: the load part alone, with its knobs."""
    parser = argparse.ArgumentParser(description="sustained users under locust's residents")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--front", help="a running stack's base URL (WECHAT_TOKEN/APPID/AES_KEY from the environment)")
    where.add_argument("--dev", action="store_true", help="start the development stack (one Rasa) and measure it")
    parser.add_argument("--instances", default="1,2", help="production stacks' instance counts (default 1,2)")
    parser.add_argument("--ladder", help=f"user counts to step through (default {','.join(map(str, LADDER))})")
    parser.add_argument("--warmup", type=float, default=Options.warmup_s, help="seconds of warm-up per level")
    parser.add_argument("--measure", type=float, default=Options.measure_s, help="seconds measured per level")
    parser.add_argument("--cooldown", type=float, default=Options.cooldown_s, help="seconds between levels")
    parser.add_argument("--think", default="3,8", help="a resident's pause before each message, min,max seconds")
    parser.add_argument("--scripts", default="", help="name patterns of the conversations to play (default all)")
    parser.add_argument("--keep", type=Path, help="keep locust's files in this folder")
    args = parser.parse_args(argv)
    low, high = (float(s) for s in args.think.split(","))
    options = Options(
        warmup_s=args.warmup,
        measure_s=args.measure,
        cooldown_s=args.cooldown,
        think_s=(low, high),
        ladder=tuple(int(n) for n in args.ladder.split(",")) if args.ladder else LADDER,
        scripts=args.scripts,
        folder=args.keep,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the stacks' readiness polls
    stop_on_sigterm()
    if args.dev:
        with tempfile.TemporaryDirectory() as folder, dev_stack(Path(folder)) as (front, wechat_env):
            print(report_one(sustained_users(front, wechat_env, options), "the development stack, one Rasa process"))
        return
    print(run(args.front, tuple(int(n) for n in args.instances.split(",")), options))


if __name__ == "__main__":
    main()
