"""Faults in the production configuration: the backend and PostgreSQL restart while residents file cases.
No case may be lost and none filed twice: the action server retries the filing with the same Idempotency-Key
until the backend answers, and Rasa's tracker store rides out the database restart."""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor

from deploy.postgres import restart_local_server
from harness.ids import resident_id_number
from tests.conftest import POSTGRES_ADMIN_URL
from tests.deploy.conftest import Prod, case_number_in, in_background, new_sender

_serials = itertools.count(100)


def _resident() -> tuple[str, str]:
    """A new conversation and a valid ID number of a resident born in 1990 (eligible for a 居住证)."""
    return new_sender(), resident_id_number(born=f"199003{next(_serials) % 28 + 1:02d}", seq=f"{next(_serials):03d}")


def _to_the_last_question(prod: Prod, sender: str, id_number: str) -> None:
    """A resident asks for a 居住证 and answers the filing form up to its last question (the community)."""
    assert any("居住证" in r for r in prod.say(sender, "我想办居住证"))
    assert any("姓名" in r for r in prod.say(sender, "4"))
    assert any("身份证" in r for r in prod.say(sender, "王秀英"))
    assert any("手机" in r for r in prod.say(sender, id_number))
    assert any("社区" in r for r in prod.say(sender, "13812345678"))


def _filed_once(prod: Prod, id_number: str, replies: list[str]) -> str:
    """The case number the resident was told; the backend holds exactly that one case for them."""
    number = case_number_in(replies)
    assert number, f"no case number in {replies}"
    assert [case["case_number"] for case in prod.cases_of(id_number)] == [number]
    return number


def test_a_backend_outage_during_filing_loses_no_case_and_files_none_twice(prod: Prod) -> None:
    sender, id_number = _resident()
    _to_the_last_question(prod, sender, id_number)
    backends = [prod.stack.part(name) for name in prod.stack.names("backend-")]
    for backend in backends:
        backend.kill()  # both replicas crash: nothing answers behind nginx
    restarted = in_background(lambda: [backend.start() for backend in backends], after_s=3)
    started = time.monotonic()
    replies = prod.say(sender, "骆家庄社区")
    waited = time.monotonic() - started
    restarted.join()
    for backend in backends:
        backend.wait_ready()
    _filed_once(prod, id_number, replies)
    assert waited > 3  # the filing really waited for the backend to come back
    assert any("您的号码是 A" in r for r in prod.say(sender, "好的"))  # the conversation goes on where it was


def test_a_rolling_backend_restart_during_filings_loses_no_case(prod: Prod) -> None:
    residents = [_resident() for _ in range(6)]
    for sender, id_number in residents:
        _to_the_last_question(prod, sender, id_number)

    def roll() -> None:
        for name in prod.stack.names("backend-"):
            prod.stack.part(name).restart()  # SIGTERM, start, wait until healthy; then the next replica

    rolling = in_background(roll)

    def file(index: int) -> list[str]:
        time.sleep(index * 1.0)  # the answers arrive spread over the restart
        sender, _ = residents[index]
        return prod.say(sender, "骆家庄社区")

    with ThreadPoolExecutor(len(residents)) as pool:
        replies = list(pool.map(file, range(len(residents))))
    rolling.join()
    numbers = [_filed_once(prod, id_number, said) for (_, id_number), said in zip(residents, replies, strict=True)]
    assert len(set(numbers)) == len(residents)


def test_a_postgresql_restart_during_filings_loses_no_case_and_no_conversation(prod: Prod) -> None:
    residents = [_resident() for _ in range(4)]
    for sender, id_number in residents:
        _to_the_last_question(prod, sender, id_number)
    outage: list[float] = []
    restart = in_background(lambda: outage.append(restart_local_server(POSTGRES_ADMIN_URL)))
    time.sleep(0.3)  # the server is going down as the last answers arrive
    with ThreadPoolExecutor(len(residents)) as pool:
        replies = list(pool.map(lambda resident: prod.say(resident[0], "骆家庄社区"), residents))
    restart.join()
    assert outage, "PostgreSQL did not come back"
    numbers = [_filed_once(prod, id_number, said) for (_, id_number), said in zip(residents, replies, strict=True)]
    assert len(set(numbers)) == len(residents)
    # Rasa kept every conversation through the restart: each resident's 好的 takes the number it offered.
    for sender, _ in residents:
        assert any("您的号码是 A" in r for r in prod.say(sender, "好的"))
