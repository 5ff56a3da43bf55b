"""The stack description as data: start order from what each part comes after, broken descriptions refused, and
the two profiles' parts, environments and secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.ports import PORT_SETTINGS
from stack import commands, development
from stack.parts import DescriptionError, Part, Stack
from stack.production import WITHHELD, Ports, Production
from stack.production import stack as production_stack


def _names(described: Stack) -> list[list[str]]:
    return [[part.name for part in group] for group in described.start_order()]


def test_parts_start_in_groups_after_what_they_come_after(tmp_path: Path) -> None:
    parts = (
        Part("c", ("c",), after=("a", "b")),
        Part("a", ("a",)),
        Part("b", ("b",), after=("a",)),
        Part("d", ("d",)),
    )
    assert _names(Stack("test", parts, tmp_path)) == [["a", "d"], ["b"], ["c"]]


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ((Part("a", ("a",)), Part("a", ("b",))), "used twice"),
        ((Part("a", ("a",), after=("ghost",)),), "not in the stack"),
        ((Part("a", ("a",), after=("b",)), Part("b", ("b",), after=("a",))), "wait for each other"),
    ],
)
def test_a_broken_description_is_refused_at_once(parts: tuple[Part, ...], message: str, tmp_path: Path) -> None:
    with pytest.raises(DescriptionError, match=message):
        Stack("test", parts, tmp_path)


def test_development_runs_one_of_each_on_the_well_known_ports_with_the_simulators() -> None:
    described = development.stack({})
    assert _names(described) == [
        ["backend", "device-simulators"],
        ["kiosk-add", "actions", "devices"],
        ["rasa"],
        ["counter", "wechat-simulator"],
        ["wechat-menu"],
    ]
    health = {part.name: part.health_url for part in described.parts}
    assert health["backend"] == "http://127.0.0.1:8000/api/v1/health"
    assert health["actions"] == "http://127.0.0.1:5055/health"
    assert health["rasa"] == "http://127.0.0.1:5005/"
    assert health["wechat-simulator"] == "http://127.0.0.1:5070/health"
    assert health["device-simulators"] == "http://127.0.0.1:5080/health"
    assert health["counter"] == "http://127.0.0.1:5090/health"
    assert described.part("rasa").command == commands.rasa(5005)
    assert described.part("rasa").ready_within_s >= 600  # TensorFlow and the model on two shared cores
    assert {p.name for p in described.parts if p.development_only} == {"wechat-simulator", "device-simulators"}
    devices = described.part("devices").env
    assert devices["PRINTER_PORT_TICKET"] == str(development.VAR / "devices" / "ticket.tty")
    assert devices["LED_BOARD_PORT"] == str(development.VAR / "devices" / "led-board.tty")
    every = described.part("backend").env
    assert every["WECHAT_APPID"] == development.DEVELOPMENT_WECHAT["WECHAT_APPID"]
    assert every["WECHAT_API_BASE_URL"] == "http://127.0.0.1:5070/cgi-bin/"
    assert {every[h] for h in ("BACKEND_HOST", "RASA_HOST", "ACTION_HOST", "COUNTER_HOST")} == {"127.0.0.1"}
    assert described.withheld == frozenset()  # make run passes its whole environment on


def test_development_follows_the_environment() -> None:
    environ = {
        "BACKEND_PORT": "18000",
        "RASA_PORT": "15005",
        "WECHAT_APPID": "wxreal",
        "WECHAT_AES_KEY": "",
        "KEYPAD_PORT": "/dev/ttyUSB0",
        "VOSK_MODEL_PATH": "/models/cn",
    }
    described = development.stack(environ)
    assert "wechat-simulator" not in described.names and "wechat-menu" not in described.names  # a real account
    assert described.part("backend").health_url == "http://127.0.0.1:18000/api/v1/health"
    assert described.part("rasa").command == commands.rasa(15005)
    assert "WECHAT_APPID" not in described.part("backend").env  # the real one comes from the environment
    devices = described.part("devices").env
    assert "KEYPAD_PORT" not in devices  # the real port, from the environment
    assert devices["PRINTER_PORT_RECEIPT"].endswith("receipt.tty")  # the others simulated
    assert "microphone" in described.names and not described.part("microphone").essential
    plaintext = development.environment({"WECHAT_AES_KEY": ""})
    assert plaintext["WECHAT_AES_KEY"] == ""  # "" chooses plaintext mode with the simulator's account


def test_development_without_simulated_devices_has_no_simulator_part() -> None:
    environ = {setting: f"/dev/tty{n}" for n, setting in enumerate(PORT_SETTINGS.values())}
    described = development.stack(environ)
    assert "device-simulators" not in described.names
    assert described.part("devices").after == ("backend",)


SECRETS = {
    "JIUJIN_TOOLS_TOKEN": "tools-secret",
    "JIUJIN_ACTIONS_TOKEN": "actions-secret",
    "JIUJIN_DEVICES_TOKEN": "devices-secret",
    "JIUJIN_CHANNELS_TOKEN": "channels-secret",
    "RASA_TOKEN": "rasa-secret",
    "ACTION_SERVER_TOKEN": "action-server-secret",
}


def production_inputs(tmp_path: Path, **changes: object) -> Production:
    values: dict[str, object] = {
        "folder": tmp_path,
        "ports": Ports.fixed(2),
        "nginx_config": tmp_path / "nginx.conf",
        "database_url": "postgresql://app:db-secret@127.0.0.1/jiujin",
        "tracker_database_url": "postgresql://app:db-secret@127.0.0.1/jiujin_tracker",
        "redis_url": "redis://127.0.0.1:6379/0",
        "secrets": SECRETS,
        "wechat_env": {"WECHAT_APPID": "wxreal"},
        "devices": True,
    }
    return Production(**(values | changes))  # type: ignore[arg-type]


def test_production_runs_n_of_each_behind_nginx_with_only_their_own_secrets(tmp_path: Path) -> None:
    described = production_stack(production_inputs(tmp_path))
    assert _names(described) == [
        ["backend-1", "backend-2"],
        ["nginx"],
        ["counter", "actions-1", "actions-2"],
        ["rasa-1", "rasa-2"],
        ["device-simulators"],
        ["devices"],
    ]
    assert described.withheld == WITHHELD
    given = {part.name: {name for name in SECRETS if name in part.env} for part in described.parts}
    assert given["backend-1"] == {f"JIUJIN_{s}_TOKEN" for s in ("TOOLS", "ACTIONS", "DEVICES", "CHANNELS")}
    assert given["actions-1"] == {"JIUJIN_ACTIONS_TOKEN", "ACTION_SERVER_TOKEN"}
    assert given["rasa-2"] == {"JIUJIN_CHANNELS_TOKEN", "ACTION_SERVER_TOKEN", "RASA_TOKEN"}
    assert given["devices"] == {"JIUJIN_DEVICES_TOKEN"}
    assert given["nginx"] == given["device-simulators"] == set()
    assert described.part("backend-1").secrets >= {"DATABASE_URL", "JIUJIN_TOOLS_TOKEN"}
    assert "TRACKER_DATABASE_URL" in described.part("rasa-1").secrets
    for part in described.parts:
        line = " ".join(part.command)
        assert not any(value in line for value in SECRETS.values()), part.name
        assert "db-secret" not in line, part.name
    assert described.part("rasa-1").command == commands.rasa(5006, endpoints="deploy/endpoints.yml")
    assert described.part("backend-2").health_url == "http://127.0.0.1:8002/api/v1/health"
    assert described.part("nginx").health_url == "tcp://127.0.0.1:8081"


def test_production_with_real_devices_and_a_private_redis(tmp_path: Path) -> None:
    ports = {setting: "/dev/ttyS0" for setting in PORT_SETTINGS.values()}
    described = production_stack(production_inputs(tmp_path, environ=ports, private_redis=True, simulate_wechat=True))
    assert "device-simulators" not in described.names
    assert _names(described)[0] == ["redis"]
    assert described.part("redis").health_url == "redis://127.0.0.1:6380/0"  # the stack's own, not the inputs' URL
    assert described.part("rasa-1").env["REDIS_URL"] == "redis://127.0.0.1:6380/0"
    assert described.part("backend-1").after == ("redis",)
    assert described.part("wechat-simulator").development_only
    assert "wechat-simulator" in described.part("rasa-1").after
    assert described.part("backend-1").env["WECHAT_API_BASE_URL"] == "http://127.0.0.1:5070/cgi-bin/"
