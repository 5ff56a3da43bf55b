"""action_take_number when the backend caps a resident's numbers: the conversation's sender is passed on, and the
resident hears which number they already hold, or that today's numbers are used up, instead of an error."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.queue import ActionTakeNumber
from tests.actions.conftest import responses, tracker
from tests.conftest import Api

SENDER = "oCapped_0123456789abcdefghijkl"


async def take(domain, *, sender: str = SENDER, message: int) -> CollectingDispatcher:
    said = CollectingDispatcher()
    user = {"event": "user", "text": "取号", "input_channel": "wechat"}
    asking = tracker(text=f"取号 {message}", events=[user], sender=sender)
    await ActionTakeNumber().run(said, asking, domain)
    return said


async def test_a_second_number_names_the_first_and_the_fourth_of_the_day_is_refused(backend_api: Api, domain) -> None:
    first = await take(domain, message=1)
    assert responses(first) == ["utter_ticket_taken"]
    number = first.messages[0]["number"]
    second = await take(domain, message=2)
    assert responses(second) == ["utter_ticket_limit_waiting"] and second.messages[0]["number"] == number
    assert "{number}" in domain["responses"]["utter_ticket_limit_waiting"][0]["text"]
    for expected in ("A002", "A003"):  # each called in turn, then the next taken
        assert (await backend_api.post("/api/v1/queue/windows/1/call-next")).status == 200
        assert (await take(domain, message=int(expected[-1]) + 2)).messages[0]["number"] == expected
    assert (await backend_api.post("/api/v1/queue/windows/1/call-next")).status == 200
    fourth = await take(domain, message=9)
    assert responses(fourth) == ["utter_ticket_limit_daily"] and fourth.messages[0]["limit"] == 3
    assert responses(await take(domain, sender="oSomeoneElse_0123456789abcdefgh", message=10)) == ["utter_ticket_taken"]
