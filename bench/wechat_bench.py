"""WeChat figures: the webhook's turn latency as a ratio to the same turn over REST (same Rasa process, turns
interleaved), and how many followers at once are served with every reply inside 4.5 s."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.dialogue_bench import CONVERSATION
from harness.dialogue import DialogueStack, wechat_dialogue_stack
from simulators.wechat.wechat_server import WeChatServer
from wechat.settings import WeChatSettings
from wechat.webhook import ACKNOWLEDGEMENT

WECHAT_ENV = {
    "WECHAT_TOKEN": "bench-token",
    "WECHAT_APPID": "wxbench00000000001",
    "WECHAT_SECRET": "bench-secret",
    "WECHAT_AES_KEY": "BenchAesKeyForTheWeChatChannel0123456789abc",
}
LIMIT_S = 4.5
USER_LEVELS = (1, 4, 8, 16, 24, 32, 48, 64)


@contextmanager
def wechat_stack(tmp: Path) -> Iterator[tuple[DialogueStack, str, WeChatSettings]]:
    """The dialogue stack with the WeChat channel in safe mode, and the simulator's API stand-in."""
    with wechat_dialogue_stack(tmp, WECHAT_ENV) as (stack, simulator):
        env = WECHAT_ENV | {"WECHAT_API_BASE_URL": f"{simulator}/cgi-bin/"}
        yield stack, f"{stack.rasa}/webhooks/wechat/webhook", WeChatSettings.from_env(env)


async def _rest_turn(client: httpx.AsyncClient, rasa: str, sender: str, text: str) -> float:
    started = time.perf_counter()
    response = await client.post(f"{rasa}/webhooks/rest/webhook", json={"sender": sender, "message": text})
    response.raise_for_status()
    return time.perf_counter() - started


async def _wechat_turn(server: WeChatServer, openid: str, text: str) -> tuple[float, bool]:
    """Seconds WeChat waits for the passive reply (first attempt; a retry would count from the start), and whether
    that reply was the answer itself rather than an acknowledgement."""
    started = time.perf_counter()
    delivery = await server.send_text(openid, text)
    elapsed = time.perf_counter() - started if len(delivery.attempts) > 1 else delivery.first_reply_s
    answered = delivery.shown_to_user not in (None, ACKNOWLEDGEMENT) and delivery.delivered
    return (float("inf") if elapsed is None else elapsed), answered


async def latency_ratio(stack: DialogueStack, server: WeChatServer, conversations: int) -> dict[str, float]:
    """The same conversation over both channels, turn by turn in alternation, one at a time."""
    rest, wechat = [], []
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(conversations):
            sender, openid = f"rest-{uuid.uuid4().hex[:8]}", f"o{uuid.uuid4().hex[:27]}"
            for text in CONVERSATION:
                rest.append(await _rest_turn(client, stack.rasa, sender, text))
                wechat.append((await _wechat_turn(server, openid, text))[0])
    return {
        "turns": len(rest),
        "rest_p50_ms": statistics.median(rest) * 1000,
        "wechat_p50_ms": statistics.median(wechat) * 1000,
        "ratio_p50": statistics.median(wechat) / statistics.median(rest),
        "ratio_mean": statistics.fmean(wechat) / statistics.fmean(rest),
    }


async def _followers(server: WeChatServer, users: int) -> tuple[list[float], int]:
    async def follower() -> list[tuple[float, bool]]:
        openid = f"o{uuid.uuid4().hex[:27]}"
        return [await _wechat_turn(server, openid, text) for text in CONVERSATION]

    results = [turn for turns in await asyncio.gather(*(follower() for _ in range(users))) for turn in turns]
    return [elapsed for elapsed, _ in results], sum(1 for _, answered in results if not answered)


async def capacity(server: WeChatServer) -> list[dict[str, float]]:
    """Followers chatting at once, in growing numbers, until a reply takes longer than 4.5 s."""
    levels = []
    for users in USER_LEVELS:
        times, acknowledged = await _followers(server, users)
        worst = max(times)
        p95 = statistics.quantiles(times, n=20, method="inclusive")[18] if len(times) > 1 else worst
        levels.append(
            {
                "users": users,
                "p95_ms": p95 * 1000,
                "max_ms": worst * 1000,
                "acknowledged": acknowledged,
                "ok": worst <= LIMIT_S and acknowledged == 0,
            }
        )
        if worst > LIMIT_S or acknowledged:
            break
    return levels


async def _measure(stack: DialogueStack, webhook: str, settings: WeChatSettings, conversations: int) -> tuple:
    limits = httpx.Limits(max_connections=max(USER_LEVELS) * 2)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        server = WeChatServer(webhook, settings, client=client)
        await _warm_up(stack, server)
        return await latency_ratio(stack, server, conversations), await capacity(server)


def run(conversations: int = 10) -> str:
    """Measure and return the report."""
    with tempfile.TemporaryDirectory() as folder, wechat_stack(Path(folder)) as (stack, webhook, settings):
        ratio, levels = asyncio.run(_measure(stack, webhook, settings, conversations))
    served = max((level["users"] for level in levels if level["ok"]), default=0)
    served_text = f"at least {served} (the most tried)" if served == max(USER_LEVELS) else str(served)
    lines = [
        "wechat (safe mode: AES both ways; one Rasa process, one action server, one backend)",
        f"webhook turn     p50 {ratio['wechat_p50_ms']:.0f} ms vs REST p50 {ratio['rest_p50_ms']:.0f} ms: "
        f"ratio {ratio['ratio_p50']:.2f} (p50), {ratio['ratio_mean']:.2f} (mean) over {ratio['turns']} turns each",
        f"followers served {served_text} at once with every reply answered passively inside {LIMIT_S:.1f} s",
    ]
    for level in levels:
        lines.append(
            f"  {level['users']:>3} at once: p95 {level['p95_ms']:.0f} ms  max {level['max_ms']:.0f} ms  "
            f"acknowledged instead of answered: {level['acknowledged']}"
        )
    return "\n".join(lines)


async def _warm_up(stack: DialogueStack, server: WeChatServer) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        for text in CONVERSATION:
            await _rest_turn(client, stack.rasa, "warm-up", text)
            await _wechat_turn(server, "oWarmUp", text)
