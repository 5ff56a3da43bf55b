"""The voice counter's door, tried as a stranger would: a real backend and a real counter service, counters
provisioned with ``bin/jiujin kiosk add``, and the counter service's kiosk API called over HTTP with no, a wrong, or
another counter's credential.

Rasa stands in as a scripted REST webhook (a real HTTP server in this process) that records every sender id and
message it is sent: so the tests see exactly which conversation each resident's words went to, and that a new
resident's conversation is one Rasa has never seen.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.config import PROJECT_ROOT
from counter.dialogue import COUNTER_CLOSED, GOODBYE
from counter.microphone_side import MicrophoneSide
from harness.counter import counter_process
from harness.ids import resident_id_number
from harness.processes import backend_process, free_port
from tests.waiting import wait_for

ID_NUMBER = resident_id_number()
PHONE = "13812345678"
TICKET_REPLY = "您的号码是 A001，前面还有 0 人，大约要等 1 分钟。请留意叫号。"


def tampered(key: str) -> str:
    """``key`` with its last character changed."""
    return key[:-1] + ("x" if key[-1] != "x" else "y")


@dataclass
class ScriptedRasa:
    """Rasa's REST channel as a script: echoes ID numbers and phones back (as a careless bot might), gives a queue
    number for 取号, and records ``(sender, message)`` of every call."""

    url: str = ""
    said: list[tuple[str, str]] = field(default_factory=list)

    def senders(self) -> list[str]:
        return list(dict.fromkeys(sender for sender, _ in self.said))

    def messages_of(self, sender: str) -> list[str]:
        return [message for s, message in self.said if s == sender]


@pytest.fixture(scope="module")
def rasa() -> Iterator[ScriptedRasa]:
    script = ScriptedRasa()

    class Webhook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            sender, message = body["sender"], body["message"]
            script.said.append((sender, message))
            if "取号" in message:
                replies = [TICKET_REPLY]
            elif re.search(r"\d{11}", message):
                replies = [f"好的，记下了：{message}。"]
            else:
                replies = [f"您好，我听到的是：{message}。还需要办别的吗？"]
            answer = json.dumps([{"recipient_id": sender, "text": r} for r in replies]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    script.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield script
    server.shutdown()


@dataclass
class Hall:
    """A running backend and counter service (``base``: the counter service, where the screens go), the environment
    their tools share (database, secrets folder), and their logs."""

    base: str
    backend: str
    env: dict[str, str]
    logs: tuple[Path, ...]
    keys: dict[str, str] = field(default_factory=dict)

    def ended_sessions(self, counter: str) -> list[tuple[str, int]]:
        """(how it ended, turns) of each resident session at ``counter`` the backend recorded, oldest first."""
        database = self.env["DATABASE_URL"].removeprefix("sqlite:///")
        with sqlite3.connect(database) as db:
            query = "SELECT end_reason, turns FROM counter_resident_sessions WHERE counter = ? ORDER BY id"
            return [(reason, turns) for reason, turns in db.execute(query, (counter,))]

    def logged(self) -> str:
        """Everything the backend and the counter service logged."""
        return "".join(log.read_text() for log in self.logs)

    def jiujin(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bin/jiujin", *args], cwd=PROJECT_ROOT, env=os.environ | self.env, capture_output=True, text=True
        )

    def provision(self, name: str) -> str:
        """``kiosk add`` then ``kiosk url``: the counter's credential, from the URL its screen opens."""
        added = self.jiujin("kiosk", "add", name)
        assert added.returncode == 0, added.stderr
        url = self.jiujin("kiosk", "url", name)
        assert url.returncode == 0, url.stderr
        assert url.stdout.strip().startswith(f"{self.base}/kiosk#key=")
        return url.stdout.strip().split("#key=", 1)[1]

    def key(self, name: str) -> str:
        """Counter ``name``'s credential, provisioned once per module (``bin/jiujin`` takes seconds to start), with no
        resident session open: whatever an earlier test left open ends with 办完了."""
        if name not in self.keys:
            self.keys[name] = self.provision(name)
        assert self.turn(self.keys[name], "办完了").json()["ended"]
        return self.keys[name]

    def turn(self, key: str | None, text: str, **extra: Any) -> httpx.Response:
        headers = {"X-Counter-Key": key} if key is not None else {}
        return httpx.post(f"{self.base}/kiosk/api/turn", json={"text": text, **extra}, headers=headers, timeout=30)


def _hall(folder: Path, rasa: ScriptedRasa, **settings: str) -> Iterator[Hall]:
    database = f"sqlite:///{folder / 'jiujin.db'}"
    counter_port = free_port()
    env = {"JIUJIN_SECRETS_DIR": str(folder / "secrets"), "COUNTER_URL": f"http://127.0.0.1:{counter_port}"}
    logs = (folder / "backend.log", folder / "counter.log")
    with backend_process(database, free_port(), logs[0], env=env) as backend:
        counter_env = env | {"RASA_URL": rasa.url, "BACKEND_URL": backend, **settings}
        with counter_process(counter_port, logs[1], env=counter_env) as base:
            yield Hall(base, backend, env | {"DATABASE_URL": database}, logs)


@pytest.fixture(scope="module")
def hall(tmp_path_factory: pytest.TempPathFactory, rasa: ScriptedRasa) -> Iterator[Hall]:
    """A backend with the counters' real durations (90 s idle, 60 s after a filing or a number)."""
    yield from _hall(tmp_path_factory.mktemp("hall"), rasa)


@pytest.fixture(scope="module")
def quick_hall(tmp_path_factory: pytest.TempPathFactory, rasa: ScriptedRasa) -> Iterator[Hall]:
    """A backend whose resident sessions end after 2 s idle, or 1 s after a queue number."""
    yield from _hall(tmp_path_factory.mktemp("quick"), rasa, KIOSK_IDLE_S="2", KIOSK_SERVED_S="1")


class Stream:
    """``GET /kiosk/api/events`` read on a thread of its own: every event (kind and data) as it arrives, and the
    raw text of the whole stream."""

    def __init__(self, hall: Hall, key: str, *, last_event_id: str | None = None) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.raw: list[str] = []
        self.status: int | None = None
        self.closed = False
        """The server ended the stream."""
        self._stop = threading.Event()
        headers = {"X-Counter-Key": key} | ({"Last-Event-ID": last_event_id} if last_event_id else {})
        self._thread = threading.Thread(target=self._read, args=(hall.base, headers), daemon=True)
        self._thread.start()
        wait_for(lambda: self.status is not None, what="the stream answered")

    def _read(self, base: str, headers: dict[str, str]) -> None:
        try:
            self._follow(base, headers)
        finally:
            self.closed = True

    def _follow(self, base: str, headers: dict[str, str]) -> None:
        timeout = httpx.Timeout(10, read=None)
        with httpx.stream("GET", f"{base}/kiosk/api/events", headers=headers, timeout=timeout) as response:
            self.status = response.status_code
            if response.status_code != 200:
                return
            kind, data = "message", []
            for line in response.iter_lines():
                self.raw.append(line)
                if self._stop.is_set():
                    return
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    self.events.append((kind, json.loads("\n".join(data))))
                    kind, data = "message", []

    def first(self, kind: str, **match: Any) -> dict[str, Any]:
        """Wait for the first event of ``kind`` whose data has the values in ``match``."""

        def found() -> dict[str, Any] | None:
            return next((d for k, d in self.events if k == kind and all(d.get(f) == v for f, v in match.items())), None)

        return wait_for(found, what=f"a {kind} event {match}")

    def close(self) -> None:
        self._stop.set()  # the reading thread stops at the next line (a keep-alive at the latest); it is a daemon


# --- who may use a counter ---------------------------------------------------------------------------------------
def test_the_screen_url_carries_the_credential_in_its_fragment_and_the_page_without_it_asks_for_staff(
    hall: Hall,
) -> None:
    key = hall.provision("hall-1")
    assert hall.provision("hall-1") == key  # `kiosk add` again (make run does, every start) changes nothing
    key_file = Path(hall.env["JIUJIN_SECRETS_DIR"]) / "counters" / "hall-1.key"
    assert key_file.read_text().strip() == key and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    page = httpx.get(f"{hall.base}/kiosk")  # what a stranger's browser gets: no credential travels with it
    assert page.status_code == 200 and "这台服务台还没有开通，请找工作人员。" in page.text
    assert key not in page.text and page.headers["referrer-policy"] == "no-referrer"
    # The backend's /kiosk sends the browser on to the counter service (which keeps the fragment).
    redirected = httpx.get(f"{hall.backend}/kiosk")
    assert redirected.status_code == 307 and redirected.headers["location"] == f"{hall.base}/kiosk"
    assert httpx.get(f"{hall.backend}/kiosk", follow_redirects=True).text == page.text
    assert key not in hall.logged()  # the fragment never reaches a server, so no log line holds it


def test_a_stream_is_refused_without_a_counters_own_credential(hall: Hall) -> None:
    key = hall.key("hall-a")
    hall.key("hall-b")
    name, mac = key.split(".", 1)
    forged = [None, "", name, f"{name}.", f"{name}.{'A' * len(mac)}", f"hall-b.{mac}", tampered(key)]
    for path in ("/kiosk/api/events", "/kiosk/api/events?session=counter-1"):  # the old way: a name in the query
        for presented in forged:
            headers = {"X-Counter-Key": presented} if presented is not None else {}
            response = httpx.get(f"{hall.base}{path}", headers=headers, timeout=10)
            assert response.status_code == 401, presented
            assert response.json()["error"]["code"] == "counter_not_authorised"
        with httpx.stream("GET", f"{hall.base}{path}", headers={"Authorization": f"Bearer {key}"}) as response:
            assert response.status_code == 401  # the credential goes in its own header, nowhere else


def test_turns_are_refused_without_the_counters_credential_and_reach_the_dialogue_with_it(
    hall: Hall, rasa: ScriptedRasa
) -> None:
    key = hall.key("hall-a")
    before = len(rasa.said)
    for presented in (None, "", f"hall-a.{'B' * 43}", "counter-1.x", tampered(key), tampered(hall.key("hall-b"))):
        response = hall.turn(presented, "帮我取号")
        assert response.status_code == 401, presented
    assert len(rasa.said) == before  # nothing reached the dialogue: no number was taken
    answered = hall.turn(key, "你好")
    assert answered.status_code == 200 and "我听到的是：你好" in answered.json()["replies"][0]


def test_another_counters_credential_neither_reads_nor_writes_this_counter(hall: Hall) -> None:
    mine, theirs = hall.key("hall-a"), hall.key("hall-b")
    their_stream = Stream(hall, theirs)
    my_stream = Stream(hall, mine)
    try:
        secret = hall.turn(mine, f"我的手机是{PHONE}").json()
        assert secret["session"]
        # Their credential with my resident's session id: refused, since it is not their counter's session.
        refused = hall.turn(theirs, "我想办居住证", session=secret["session"])
        assert refused.status_code == 409
        mine_again = hall.turn(mine, "第二句", session=secret["session"]).json()
        assert mine_again["session"] == secret["session"]  # my resident's session went on, undisturbed
        own = hall.turn(theirs, "他们自己的话").json()
        their_stream.first("turn", seq=own["seq"])
        my_stream.first("turn", seq=mine_again["seq"])
        assert all(data.get("session") != secret["session"] for _, data in their_stream.events)
        assert not any("1381234" in line or "第二句" in line for line in their_stream.raw)
        assert own["session"] != secret["session"]
    finally:
        their_stream.close()
        my_stream.close()


# --- one resident, one session ------------------------------------------------------------------------------------
def test_a_client_chosen_session_id_is_not_accepted(hall: Hall, rasa: ScriptedRasa) -> None:
    key = hall.key("hall-a")
    assert hall.turn(key, "你好", session="counter-1").status_code == 422  # not even the shape of an issued id
    chosen = "Attacker-Chosen-Id0001"
    refused = hall.turn(key, "你好", session=chosen)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "session_ended"
    issued = hall.turn(key, "你好").json()
    assert issued["session"] != chosen and re.fullmatch(r"[A-Za-z0-9_-]{22}", issued["session"])
    assert not any(chosen in sender or issued["session"] in sender for sender in rasa.senders())


def test_after_done_the_next_resident_starts_from_nothing(hall: Hall, rasa: ScriptedRasa) -> None:
    key = hall.key("hall-a")
    stream = Stream(hall, key)
    try:
        first = hall.turn(key, "我想办居住证").json()
        hall.turn(key, ID_NUMBER, session=first["session"])
        done = hall.turn(key, "办完了", session=first["session"]).json()
        assert done["ended"] and done["replies"] == [GOODBYE]
        ended = stream.first("ended", session=first["session"])
        assert ended["reason"] == "done" and ended["replies"] == [GOODBYE]

        # The next resident: a new session and a conversation Rasa has never seen.
        senders_before = rasa.senders()
        late_tap = hall.turn(key, "4", session=first["session"])  # the last resident's screen, a moment too late
        assert late_tap.status_code == 409
        second = hall.turn(key, "我想办居住证").json()
        assert second["session"] != first["session"]
        new_sender = rasa.senders()[-1]
        assert new_sender not in senders_before and rasa.messages_of(new_sender) == ["我想办居住证"]

        # A screen that connects now sees only the new resident; one resuming from before sees the end first.
        fresh = Stream(hall, key)
        resumed = Stream(hall, key, last_event_id=str(first["seq"]))
        try:
            assert fresh.first("snapshot")["session"] == second["session"]
            resumed.first("turn", session=second["session"])
            assert resumed.events[0][0] == "ended"
            for each in (fresh, resumed):
                assert not any(data.get("session") == first["session"] for kind, data in each.events if kind == "turn")
                assert not any(ID_NUMBER[-4:] in line and ID_NUMBER[:6] in line for line in each.raw)
        finally:
            fresh.close()
            resumed.close()
    finally:
        stream.close()


def test_a_question_about_being_done_does_not_end_the_session(hall: Hall) -> None:
    key = hall.key("hall-a")
    asked = hall.turn(key, "我的居住证办完了吗？").json()
    assert not asked["ended"] and asked["replies"] != [GOODBYE]
    assert hall.turn(key, "谢谢", session=asked["session"]).status_code == 200


def test_streamed_events_and_turn_answers_carry_masked_numbers(hall: Hall) -> None:
    key = hall.key("hall-a")
    stream = Stream(hall, key)
    try:
        answer = hall.turn(key, f"身份证{ID_NUMBER}手机{PHONE}", source="voice").json()
        for text in (answer["heard"], *answer["replies"]):
            assert ID_NUMBER not in text and PHONE not in text
            assert ID_NUMBER[:4] in text and "*" in text  # masked, not dropped: the resident can check the ends
        streamed = stream.first("turn", seq=answer["seq"])
        assert streamed["heard"] == answer["heard"] and streamed["replies"] == answer["replies"]
        assert not any(ID_NUMBER in line or PHONE in line for line in stream.raw)
    finally:
        stream.close()
    assert ID_NUMBER not in hall.logged() and PHONE not in hall.logged()


def test_a_revoked_counter_is_refused_and_added_again_gets_a_new_credential(hall: Hall) -> None:
    old = hall.provision("hall-r")
    assert hall.turn(old, "你好").status_code == 200
    open_stream = Stream(hall, old)
    revoked = hall.jiujin("kiosk", "revoke", "hall-r")
    assert revoked.returncode == 0, revoked.stderr
    # A stream opened before is cut off at its next check (every RECHECK_S = 15 s), its resident's session ended.
    wait_for(lambda: open_stream.closed, within_s=60, what="the revoked counter's open stream ended")
    assert [data["reason"] for kind, data in open_stream.events if kind == "ended"] == ["revoked"]
    assert hall.turn(old, "你好").status_code == 401
    assert httpx.get(f"{hall.base}/kiosk/api/events", headers={"X-Counter-Key": old}).status_code == 401
    # The backend checks credentials for the counter service only: without a service token it tells nobody.
    assert httpx.post(f"{hall.backend}/api/v1/counters/authenticate", json={"key": old}).status_code == 401
    assert hall.jiujin("kiosk", "url", "hall-r").returncode == 2  # no URL for a revoked counter
    assert not (Path(hall.env["JIUJIN_SECRETS_DIR"]) / "counters" / "hall-r.key").exists()
    new = hall.provision("hall-r")
    assert new != old
    assert hall.turn(old, "你好").status_code == 401  # a copy of the old URL stays dead
    assert hall.turn(new, "你好").status_code == 200
    listed = hall.jiujin("kiosk", "list").stdout
    assert re.search(r"hall-r\tactive\tgeneration 2", listed)


def test_the_microphone_side_authenticates_as_its_counter(hall: Hall) -> None:
    key = hall.key("hall-a")
    heard = MicrophoneSide(hall.base, key).hear("你好", 0.9)
    assert "我听到的是：你好" in heard.replies[0]
    assert MicrophoneSide(hall.base, tampered(key)).hear("你好", 0.9).replies == [COUNTER_CLOSED]


# --- sessions end by themselves ----------------------------------------------------------------------------------
def test_a_session_ends_after_a_queue_number_and_when_idle(quick_hall: Hall, rasa: ScriptedRasa) -> None:
    key = quick_hall.key("quick-1")
    stream = Stream(quick_hall, key)
    senders_before = set(rasa.senders())
    try:
        ticket = quick_hall.turn(key, "取号").json()
        assert ticket["replies"] == [TICKET_REPLY]
        assert stream.first("ended", session=ticket["session"])["reason"] == "served"
        assert quick_hall.turn(key, "我的号是多少", session=ticket["session"]).status_code == 409

        idle = quick_hall.turn(key, "你好").json()
        assert idle["session"] != ticket["session"]
        assert stream.first("ended", session=idle["session"])["reason"] == "idle"
        after = quick_hall.turn(key, "你好").json()
        assert after["session"] not in (idle["session"], ticket["session"])
        assert len(set(rasa.senders()) - senders_before) == 3  # three residents, three conversations
    finally:
        stream.close()
    # The backend keeps the record of each session that ended (how, and how many turns), nothing said in it.
    wait_for(lambda: quick_hall.ended_sessions("quick-1")[-2:] == [("served", 1), ("idle", 1)], what="the record")


def test_the_screen_asks_for_staff_without_a_credential_and_returns_to_the_start(quick_hall: Hall) -> None:
    from playwright.sync_api import expect

    from tests.chromium import launched_chromium

    key = quick_hall.key("quick-1")
    url = f"{quick_hall.base}/kiosk#key={key}"  # as `kiosk url` printed it
    with launched_chromium() as browser:
        stranger = browser.new_page()
        stranger.goto(f"{quick_hall.base}/kiosk")
        expect(stranger.locator("#locked")).to_have_text("这台服务台还没有开通，请找工作人员。")
        expect(stranger.locator("main")).to_be_hidden()
        wrong = browser.new_page()
        wrong.goto(f"{quick_hall.base}/kiosk#key={tampered(key)}")
        expect(wrong.locator("#locked")).to_be_visible()

        page = browser.new_page()
        page.goto(url)
        expect(page.locator("main")).to_be_visible()
        assert "#key=" not in page.url  # taken out of the address bar
        page.fill("#text", f"手机{PHONE}")
        page.click("#type button")
        expect(page.locator(".heard")).to_have_text("您说：手机138****5678")
        # 2 s without a turn: the session ends and the screen returns to the start, showing nothing of it.
        expect(page.locator("#exchange")).to_have_text("您好！请说出您要办的事，或点下面的按钮。", timeout=15_000)
        page.reload()  # the credential is kept for this tab's reloads
        expect(page.locator("main")).to_be_visible()
        page.click("#actions button[data-say=办完了]")
        expect(page.locator("#exchange")).to_contain_text(GOODBYE)
