"""Doors: the listeners, Rasa's HTTP API and the action server, tried as a stranger would against real processes.

The run's dialogue stack (tests/conftest.py): every socket of every process is read from the kernel and must be bound
to 127.0.0.1; the action server runs nothing for a caller without its shared secret; Rasa's API answers only its
token, and its model cannot be replaced. Rasa as ``make run`` starts it, with no token (bot/serve.py): its API is not
there at all. (The production stack's sockets: tests/deploy/test_bound_interfaces.py, on the fault tests' stack
rather than a second one.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from harness.dialogue import DialogueStack
from harness.ids import resident_id_number
from harness.processes import free_port, listening_addresses, service_process
from security.tokens import create_secret_file
from stack import commands
from tests.conftest import SharedDialogue
from tests.security.conftest import ResidentStack

ID_NUMBER = resident_id_number(seq="437")


@pytest.fixture(scope="module")
def stack(shared_dialogue: SharedDialogue) -> DialogueStack:
    """Backend, action server, counter service and Rasa as real processes (the run's shared stack)."""
    return shared_dialogue.stack


@pytest.fixture(scope="module")
def rasa_without_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Rasa from the launcher every part uses, with no RASA_TOKEN nor RASA_TOKEN_FILE, as ``make run`` has it; its
    base URL. The launcher decides the API before any model loads, so this Rasa has none: it answers in seconds
    instead of loading the model for a minute of CPU (the shared stack answers residents with it)."""
    folder = tmp_path_factory.mktemp("no-token")
    port = free_port()
    command = list(commands.rasa(port, model=folder / "no-model.tar.gz"))
    env = commands.RASA_ENV | {
        "RASA_TOKEN": "",
        "RASA_TOKEN_FILE": "",
        "JIUJIN_SECRETS_DIR": str(folder / "secrets"),
        "ACTION_SERVER_URL": f"http://127.0.0.1:{free_port()}/webhook",
    }
    base = f"http://127.0.0.1:{port}"
    with service_process(command, env=env, health_url=f"{base}/", log=folder / "rasa.log", ready_within_s=300):
        yield base


def _pid_listening_on(port: int) -> int:
    owners = {c.pid for c in psutil.net_connections(kind="inet") if c.laddr.port == port and c.pid}
    assert len(owners) == 1, f"port {port}: {owners}"
    return owners.pop()


def _webhook_call(text: str) -> dict[str, object]:
    """What Rasa posts to run ``action_check_progress`` for a resident who typed ``text``."""
    sender = f"stranger-{uuid.uuid4().hex[:8]}"
    message = {"text": text, "intent": {"name": "check_progress", "confidence": 1.0}, "entities": []}
    tracker = {
        "sender_id": sender,
        "slots": {"id_number": ID_NUMBER},
        "latest_message": message,
        "events": [{"event": "user", "text": text, "parse_data": message}],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }
    return {"next_action": "action_check_progress", "sender_id": sender, "tracker": tracker, "domain": {}}


def test_every_listener_of_the_stack_is_bound_to_loopback_only(stack: DialogueStack, rasa_without_token: str) -> None:
    pids = {
        "backend": _pid_listening_on(int(stack.backend.rsplit(":", 1)[1])),
        "counter": _pid_listening_on(int(stack.counter.rsplit(":", 1)[1])),
        "actions": stack.actions.pid,
        "rasa": stack.rasa_process.pid,
        "rasa without a token": _pid_listening_on(int(rasa_without_token.rsplit(":", 1)[1])),
    }
    for name, pid in pids.items():
        bound = listening_addresses(pid)
        assert bound, f"{name} listens nowhere?"
        assert {host for host, _ in bound} == {"127.0.0.1"}, f"{name} listens on {bound}"
    assert ("127.0.0.1", int(stack.rasa.rsplit(":", 1)[1])) in listening_addresses(stack.rasa_process.pid)


def test_without_a_token_rasa_has_no_http_api(rasa_without_token: str) -> None:
    rasa, sender = rasa_without_token, f"resident-{uuid.uuid4().hex[:8]}"
    rest = httpx.post(f"{rasa}/webhooks/rest/webhook", json={"sender": sender, "message": "我想办居住证"}, timeout=60)
    assert rest.status_code == 200  # the residents' channel is there
    assert httpx.get(f"{rasa}/conversations/{sender}/tracker", timeout=10).status_code == 404
    assert httpx.get(f"{rasa}/conversations/{sender}/tracker?token=", timeout=10).status_code == 404
    assert httpx.put(f"{rasa}/model", json={"model_file": "/tmp/evil.tar.gz"}, timeout=10).status_code == 404
    assert httpx.get(f"{rasa}/status", timeout=10).status_code == 404


def test_the_action_server_runs_nothing_without_its_secret(stack: DialogueStack) -> None:
    webhook = f"{stack.action_url}/webhook"
    call = _webhook_call(f"查一下{ID_NUMBER}的进度")
    bare = httpx.post(webhook, json=call, timeout=10)
    assert bare.status_code == 401 and ID_NUMBER not in bare.text
    for wrong in ("Bearer", "Bearer wrong-secret", "Basic d3Jvbmc6c2VjcmV0", "bearer x"):
        refused = httpx.post(webhook, json=call, headers={"Authorization": wrong}, timeout=10)
        assert refused.status_code == 401, wrong
    assert httpx.get(f"{stack.action_url}/actions", timeout=10).status_code == 401  # no map of what to try

    assert stack.secrets is not None
    secret = create_secret_file(stack.secrets / "action-server-token")  # Rasa's: the door opens for it alone
    allowed = httpx.post(webhook, json=call, headers={"Authorization": f"Bearer {secret}"}, timeout=10)
    assert allowed.status_code != 401
    assert httpx.get(f"{stack.action_url}/health", timeout=10).status_code == 200


def test_rasa_calls_the_action_server_with_the_secret(stack: DialogueStack, tmp_path: Path) -> None:
    """The legitimate path stays open: a turn that needs an action is answered, and nothing was refused."""
    sender = f"resident-{uuid.uuid4().hex[:8]}"
    replies = httpx.post(
        f"{stack.rasa}/webhooks/rest/webhook", json={"sender": sender, "message": "我想办居住证"}, timeout=60
    )
    assert any("直接网上预约办理" in r.get("text", "") for r in replies.json())  # the action's checklist


@pytest.fixture(scope="module")
def rasa_with_token(resident_stack: ResidentStack) -> tuple[str, str]:
    """A Rasa whose API is on, its token in a file (RASA_TOKEN_FILE): the run's shared stack."""
    stack = resident_stack.stack
    assert stack.rasa_token
    line = " ".join(psutil.Process(stack.rasa_process.pid).cmdline())
    assert stack.rasa_token not in line  # never on a command line
    return stack.rasa, stack.rasa_token


def test_with_a_token_rasa_api_answers_that_token_only(rasa_with_token: tuple[str, str]) -> None:
    rasa, token = rasa_with_token
    sender = f"resident-{uuid.uuid4().hex[:8]}"
    httpx.post(
        f"{rasa}/webhooks/rest/webhook", json={"sender": sender, "message": f"我的身份证是{ID_NUMBER}"}, timeout=60
    )
    tracker = f"{rasa}/conversations/{sender}/tracker"
    for attempt in ({}, {"token": ""}, {"token": "wrong"}, {"token": token[:-1]}):
        assert httpx.get(tracker, params=attempt, timeout=10).status_code in (401, 403), attempt
    assert httpx.get(tracker, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code in (401, 403)
    assert httpx.get(tracker, params={"token": token}, timeout=10).status_code == 200  # the door is the token


def test_nobody_without_the_token_replaces_the_model(rasa_with_token: tuple[str, str], tmp_path: Path) -> None:
    rasa, token = rasa_with_token
    before = httpx.get(f"{rasa}/status", params={"token": token}, timeout=10).json()["model_id"]
    evil = tmp_path / "evil.tar.gz"
    evil.write_bytes(b"not a model")
    for attempt in ({}, {"token": "wrong"}):
        put = httpx.put(f"{rasa}/model", params=attempt, json={"model_file": str(evil)}, timeout=30)
        assert put.status_code in (401, 403), put.text
    assert httpx.get(f"{rasa}/status", params={"token": token}, timeout=10).json()["model_id"] == before


def test_the_launchers_put_no_secret_on_a_command_line(stack: DialogueStack) -> None:
    assert stack.secrets is not None
    secrets = [p.read_text().strip() for p in stack.secrets.iterdir() if p.is_file()]
    assert secrets
    for process in (psutil.Process(stack.actions.pid), psutil.Process(stack.rasa_process.pid)):
        line = " ".join(process.cmdline())
        assert not any(secret in line for secret in secrets), line
