"""Customer-service delivery: answers that missed the 5-second passive reply, within WeChat's allowance.

WeChat lets an account send a follower at most 5 customer-service messages after each message from that follower,
within 48 hours. The allowance is kept in the shared state, so all instances count together. A text that cannot go
now waits in the follower's outbox, and how it goes out later depends on why it waited:

- no allowance left (or WeChat refused it for that reason): it goes out with the answer to the follower's next
  message, marked `HELD_OVER` (WeChat would refuse it before then anyway);
- the API failed (network, HTTP 5xx, errcode -1 …): the unit of allowance is given back and the follower is put in
  the retry index; `sweep_forever` (running in each Rasa instance) resends it, as it was written, once the API
  works again — or it goes out with the follower's next message, whichever comes first;
- the follower is gone (unfollowed, blocked, not ours): it is dropped.

Messages to one follower keep their order: a new delivery sends what waits in the outbox first, and what is put
back goes before anything queued meanwhile.
"""

from __future__ import annotations

import asyncio
import enum
import logging

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_incrementing,
    wait_random,
)

from vocabulary.masking import mask_openid
from wechat.client import FOLLOWER_GONE_ERRORS, QUOTA_ERRORS, WeChatApi, errcode
from wechat.state import SharedState
from wechat.text import CONTINUED, split

log = logging.getLogger(__name__)

ALLOWANCE = 5
ALLOWANCE_S = 48 * 3600
SEND_ATTEMPTS = 3
"""Attempts at sending one message before it waits for the sweeper (`sweep_forever`)."""
RETRY_PAUSE_S = 0.5
"""Pause after the n-th failed attempt: n × this, plus up to half of it at random (instances failing together
resend apart), in seconds."""
HELD_OVER = "（您上次未收到的消息）"
RETRY_INDEX = "wechat:outbox-retry"
"""A list of the OpenIDs whose outbox holds messages the API failed to take (an OpenID may appear more than once)."""
SHUTDOWN_GRACE_S = 15.0
"""On shutdown, how long a sweep in progress may go on: its messages are out of the shared state until it ends."""


class Outcome(enum.Enum):
    """How sending a piece went."""

    SENT = "sent"
    NO_ALLOWANCE = "no_allowance"
    """None left here or at WeChat: it waits for the follower's next message."""
    FAILED = "failed"
    """The API failed: the sweeper tries again."""
    GONE = "gone"
    """The follower cannot receive messages any more: dropped."""


def _allowance_key(openid: str) -> str:
    return f"wechat:allowance:{openid}"


def _outbox_key(openid: str) -> str:
    return f"wechat:outbox:{openid}"


class CustomerService:
    """Sends texts by the customer-service API within the allowance; keeps what cannot go now."""

    def __init__(self, api: WeChatApi, state: SharedState) -> None:
        self.api = api
        self.state = state

    async def follower_wrote(self, openid: str) -> list[str]:
        """A message (or menu click, follow, scan) arrived: renew the allowance and return texts held over."""
        await asyncio.to_thread(self.state.grant, _allowance_key(openid), ALLOWANCE, ALLOWANCE_S)
        held = await asyncio.to_thread(self.state.drain, _outbox_key(openid))
        # The pieces are kept as they were sent; joined into one text they lose their continuation marks.
        return [HELD_OVER + "\n" + "\n".join(piece.removesuffix(CONTINUED) for piece in held)] if held else []

    async def forget(self, openid: str) -> None:
        """The follower unfollowed: drop their allowance and anything held for them."""
        await asyncio.to_thread(self.state.delete, _allowance_key(openid))
        await asyncio.to_thread(self.state.drain, _outbox_key(openid))

    async def deliver(self, openid: str, text: str) -> bool:
        """Send ``text`` (split when long). False when some of it waits in the outbox (or the follower is gone)."""
        return await self.deliver_pieces(openid, split(text))

    async def deliver_pieces(self, openid: str, pieces: list[str]) -> bool:
        """Send pieces already cut to WeChat's size, in order, after whatever waits for the follower; what cannot go
        now waits in the outbox."""
        waiting = await asyncio.to_thread(self.state.drain, _outbox_key(openid))
        _, outcome = await self._send_all(openid, [*waiting, *pieces])
        if outcome is Outcome.FAILED:
            await asyncio.to_thread(self.state.push, RETRY_INDEX, openid, ALLOWANCE_S)
        return outcome is Outcome.SENT

    async def retry_held(self) -> int:
        """Resend what the API failed to take, for the followers with allowance left; returns how many pieces went out.

        Instances may sweep at the same time: the index and each outbox are drained in one step, so every piece goes
        to exactly one of them. A follower without allowance leaves the index (their messages wait for their next
        message). When the API fails again, the sweep stops there and the followers not reached wait for the next.
        """
        openids = list(dict.fromkeys(await asyncio.to_thread(self.state.drain, RETRY_INDEX)))
        sent = 0
        for position, openid in enumerate(openids):
            try:
                count, outcome = await self._retry(openid)
            except Exception:
                await self._index_again(openids[position:])
                raise
            sent += count
            if outcome is Outcome.FAILED:
                log.warning(
                    "the WeChat API still fails; %d follower(s) wait for the next sweep", len(openids) - position
                )
                # This follower last: a message that keeps failing must not hold up the others sweep after sweep.
                await self._index_again([*openids[position + 1 :], openid])
                break
        return sent

    async def _retry(self, openid: str) -> tuple[int, Outcome | None]:
        left = await asyncio.to_thread(self.state.get, _allowance_key(openid))
        if left is None or int(left) <= 0:
            return 0, None
        pieces = await asyncio.to_thread(self.state.drain, _outbox_key(openid))
        if not pieces:  # already gone out, with a delivery or the follower's next message
            return 0, None
        return await self._send_all(openid, pieces)

    async def _send_all(self, openid: str, pieces: list[str]) -> tuple[int, Outcome]:
        """Send ``pieces`` in order, stopping at the first that cannot go; returns how many went and why it stopped."""
        for index, piece in enumerate(pieces):
            try:
                outcome = await self._send_one(openid, piece)
            except Exception:  # the shared state failed (taking or giving back a unit): nothing of this piece went
                await self._keep(openid, pieces[index:], retry=True)
                raise
            if outcome is Outcome.SENT:
                continue
            if outcome is Outcome.GONE:
                log.info("dropped %d customer-service message(s) for %s", len(pieces) - index, mask_openid(openid))
            else:
                await self._keep(openid, pieces[index:])
            return index, outcome
        return len(pieces), Outcome.SENT

    async def _send_one(self, openid: str, piece: str) -> Outcome:
        if not await asyncio.to_thread(self.state.take, _allowance_key(openid)):
            log.info("customer-service allowance used up; holding a message for the follower's next message")
            return Outcome.NO_ALLOWANCE
        try:
            await _sending()(self.api.send_text, openid, piece)
            return Outcome.SENT
        except Exception as exc:  # the last failure, or one that asks for no retry
            code = errcode(exc)
            if code in QUOTA_ERRORS:  # WeChat counts the unit as used: it is not given back
                log.info("WeChat refused a customer-service message (errcode %s); holding it", code)
                return Outcome.NO_ALLOWANCE
            if code in FOLLOWER_GONE_ERRORS:
                log.info("follower %s cannot receive messages (errcode %s)", mask_openid(openid), code)
                return Outcome.GONE
        await asyncio.to_thread(self.state.refund, _allowance_key(openid))  # the message never went: nor did the unit
        return Outcome.FAILED

    async def _keep(self, openid: str, pieces: list[str], *, retry: bool = False) -> None:
        """Put ``pieces`` back at the front of the outbox, before anything queued meanwhile (with ``retry``, also in
        the retry index). Logs a loss."""
        try:
            await asyncio.to_thread(self.state.push_front, _outbox_key(openid), pieces, ALLOWANCE_S)
            if retry:
                await asyncio.to_thread(self.state.push, RETRY_INDEX, openid, ALLOWANCE_S)
        except Exception:
            log.error(
                "shared state unavailable: %d customer-service message(s) for %s could not be kept",
                len(pieces),
                mask_openid(openid),
            )
            raise

    async def _index_again(self, openids: list[str]) -> None:
        """Put followers a sweep did not finish back in the retry index (best effort: the store may be down)."""
        try:
            for openid in openids:
                await asyncio.to_thread(self.state.push, RETRY_INDEX, openid, ALLOWANCE_S)
        except Exception as exc:
            log.warning(
                "could not put %d follower(s) back in the retry index (%s); their messages wait for their next one",
                len(openids),
                type(exc).__name__,
            )


def _sending() -> AsyncRetrying:
    """How one message is sent (`SEND_ATTEMPTS`, `RETRY_PAUSE_S`, read when it is sent): a refusal for the quota or
    for a gone follower ends it at once, since WeChat would refuse the message again the same way."""
    return AsyncRetrying(
        retry=retry_if_exception(_worth_retrying),
        stop=stop_after_attempt(SEND_ATTEMPTS),
        wait=wait_incrementing(start=RETRY_PAUSE_S, increment=RETRY_PAUSE_S) + wait_random(0, RETRY_PAUSE_S / 2),
        after=_log_failed_attempt,
        reraise=True,
    )


def _worth_retrying(exc: BaseException) -> bool:
    """Transport failures and WeChat errors alike, except the quota's and a gone follower's (and cancellation)."""
    return isinstance(exc, Exception) and errcode(exc) not in QUOTA_ERRORS | FOLLOWER_GONE_ERRORS


def _log_failed_attempt(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    # Not the exception's text: it can hold the request URL, and with it the access token.
    log.warning(
        "customer-service message failed (attempt %d): %s %s", state.attempt_number, type(exc).__name__, errcode(exc)
    )


async def sweep_forever(customer_service: CustomerService, interval_s: float) -> None:
    """Resend failed customer-service messages every ``interval_s`` seconds until cancelled.

    A failing sweep (the shared state unreachable, anything unexpected) is logged — with its traceback the first
    time in a row, in one line after that — and the next sweep tries again.
    """
    failing = False
    while True:
        sweep = asyncio.ensure_future(customer_service.retry_held())
        try:
            sent = await asyncio.shield(sweep)
        except asyncio.CancelledError:
            # Shutting down: the sweep holds messages it took out of the shared state; let it send or keep them.
            done, _ = await asyncio.wait({sweep}, timeout=SHUTDOWN_GRACE_S)
            if not done:
                sweep.cancel()
            elif not sweep.cancelled() and sweep.exception() is not None:
                log.warning("the last sweep of held messages failed: %s", type(sweep.exception()).__name__)
            raise
        except Exception as exc:
            if failing:
                log.warning("resending held messages still fails: %s", type(exc).__name__)
            else:
                log.exception("resending held messages failed; trying again in %.1f s", interval_s)
            failing = True
        else:
            if failing:
                log.info("resending held messages works again")
            failing = False
            if sent:
                log.info("resent %d held customer-service message(s)", sent)
        await asyncio.sleep(interval_s)
