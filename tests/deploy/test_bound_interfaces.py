"""Doors of the production configuration: what listens where, read from the sockets of the real processes
of the fault tests' stack, and the secrets each part is given. Part of tests/security's listeners door; here so
that it runs on this folder's stack instead of starting a second one."""

from __future__ import annotations

import re
from pathlib import Path

import psutil

from deploy.stack import _render_nginx
from harness.processes import listening_addresses
from tests.deploy.conftest import Prod


def test_every_part_listens_on_loopback_only(prod: Prod) -> None:
    seen: dict[str, set[tuple[str, int]]] = {}
    for name, part in prod.stack.parts.items():
        assert part.process is not None and part.running, name
        seen[name] = listening_addresses(part.process.pid)
    beyond = {name: bound for name, bound in seen.items() if {host for host, _ in bound} - {"127.0.0.1"}}
    assert beyond == {}
    for name in ("nginx", "backend-1", "actions-1", "rasa-1", "redis", "counter", "wechat-simulator"):
        assert seen[name], f"{name} listens nowhere?"
    assert seen["device-simulators"], "the simulators' control listens nowhere?"
    assert seen["devices"] == set()  # the drivers only call out
    front_port = int(prod.front.rsplit(":", 1)[1])
    assert ("127.0.0.1", front_port) in seen["nginx"]


def test_only_the_public_front_follows_front_host(tmp_path: Path) -> None:
    listeners = {"front": 443, "internal": 18081, "actions": 18082}
    config = _render_nginx(tmp_path, "0.0.0.0", listeners, {"rasa": [1], "actions": [2], "backend": [3]})
    listens = re.findall(r"^\s*listen\s+(\S+);", config.read_text(), flags=re.MULTILINE)
    assert sorted(listens) == ["0.0.0.0:443", "127.0.0.1:18081", "127.0.0.1:18082"]


def test_each_part_gets_only_the_secrets_it_needs_and_none_on_a_command_line(prod: Prod) -> None:
    secrets = prod.stack.secrets
    needs = {
        "backend-1": {"JIUJIN_TOOLS_TOKEN", "JIUJIN_ACTIONS_TOKEN", "JIUJIN_DEVICES_TOKEN", "JIUJIN_CHANNELS_TOKEN"},
        "actions-1": {"JIUJIN_ACTIONS_TOKEN", "ACTION_SERVER_TOKEN"},
        "rasa-1": {"JIUJIN_CHANNELS_TOKEN", "ACTION_SERVER_TOKEN", "RASA_TOKEN"},
        "devices": {"JIUJIN_DEVICES_TOKEN"},
        "counter": {"JIUJIN_DEVICES_TOKEN", "JIUJIN_CHANNELS_TOKEN"},
        "nginx": set(),
        "wechat-simulator": set(),
        "device-simulators": set(),
    }
    for name, expected in needs.items():
        process = psutil.Process(prod.stack.part(name).process.pid)  # type: ignore[union-attr]
        environ = process.environ()
        assert {variable for variable in secrets if variable in environ} == expected, name
        line = " ".join(process.cmdline())
        assert not any(value in line for value in secrets.values()), name
    database = psutil.Process(prod.stack.part("backend-1").process.pid).environ()["DATABASE_URL"]  # type: ignore[union-attr]
    assert database.startswith(f"postgresql://{prod.stack.config.app_role}:")  # the app role, not the admin
