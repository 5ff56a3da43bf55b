"""systemd units generated from the production description, read back as systemd reads them: one service per
part, ordered and bound by what it comes after, restarted on failure, and no secret in a unit."""

from __future__ import annotations

import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from deploy.refusals import generate_secrets, resolve_secrets
from deploy.stack import StackConfig
from deploy.systemd import write_production_units
from stack.parts import Part, Stack
from stack.systemd import TARGET, parse_unit, service, unit_name

WECHAT = {
    "WECHAT_APPID": "wxrealaccount01",
    "WECHAT_SECRET": "wechat-app-secret-value",
    "WECHAT_TOKEN": "wechat-token-value",
    "WECHAT_AES_KEY": "A" * 43,
}


@pytest.fixture
def units(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    for name in ("PRINTER_PORT_TICKET", "PRINTER_PORT_RECEIPT", "KEYPAD_PORT", "LED_BOARD_PORT"):
        monkeypatch.delenv(name, raising=False)
    config = StackConfig(folder=tmp_path / "prod", instances=2, wechat_env=WECHAT, devices=True)
    generate_secrets(config.secrets_folder, {})
    out = tmp_path / "units"
    write_production_units(config, out, env_dir=Path("/etc/jiujin"), user="jiujin")
    return out, resolve_secrets(config.secrets_folder, {})


def _read(out: Path, part: str) -> dict[str, dict[str, list[str]]]:
    return parse_unit((out / unit_name(part)).read_text(encoding="utf-8"))


def _environment(unit: dict[str, dict[str, list[str]]]) -> dict[str, str]:
    pairs = [shlex.split(line)[0].split("=", 1) for line in unit["Service"].get("Environment", [])]
    return dict(pairs)


def test_one_unit_per_production_part_and_a_target_that_wants_them_all(units: tuple[Path, dict[str, str]]) -> None:
    out, _ = units
    services = sorted(path.name for path in out.glob("*.service"))
    expected = ["backend-1", "backend-2", "nginx", "counter", "actions-1", "actions-2", "rasa-1", "rasa-2", "devices"]
    assert services == sorted(unit_name(name) for name in expected)  # no simulator: development only
    target = parse_unit((out / TARGET).read_text())
    assert sorted(target["Unit"]["Wants"][0].split()) == services
    assert target["Install"]["WantedBy"] == ["multi-user.target"]


def test_units_are_ordered_and_bound_by_what_each_part_comes_after(units: tuple[Path, dict[str, str]]) -> None:
    out, _ = units
    nginx = _read(out, "nginx")
    assert nginx["Unit"]["Requires"] == ["jiujin-backend-1.service jiujin-backend-2.service"]
    assert set(nginx["Unit"]["After"][0].split()) == {
        "network-online.target",
        "jiujin-backend-1.service",
        "jiujin-backend-2.service",
    }
    rasa = _read(out, "rasa-1")
    assert set(rasa["Unit"]["Requires"][0].split()) == {"jiujin-actions-1.service", "jiujin-actions-2.service"}
    devices = _read(out, "devices")
    assert set(devices["Unit"]["Requires"][0].split()) == {"jiujin-rasa-1.service", "jiujin-rasa-2.service"}
    backend = _read(out, "backend-1")
    assert "Requires" not in backend["Unit"]
    for name in ("backend-1", "nginx", "rasa-2", "devices"):
        unit = _read(out, name)["Service"]
        assert unit["Restart"] == ["on-failure"] and unit["Type"] == ["simple"], name
        assert unit["KillMode"] == ["control-group"] and unit["User"] == ["jiujin"], name
        assert unit["EnvironmentFile"][0] == "-/etc/jiujin/jiujin.env", name


def test_a_unit_is_started_once_its_part_answers_its_health_check(units: tuple[Path, dict[str, str]]) -> None:
    out, _ = units
    rasa = _read(out, "rasa-1")["Service"]
    command = shlex.split(rasa["ExecStart"][0])
    assert command[1:4] == ["-m", "bot.serve", "--model"] and command[command.index("--port") + 1] == "5006"
    wait = shlex.split(rasa["ExecStartPost"][0])
    assert wait[1:] == ["-m", "stack.health", "http://127.0.0.1:5006/", "--within", "900"]
    assert int(rasa["TimeoutStartSec"][0]) > 900
    backend = _read(out, "backend-2")["Service"]
    assert _environment(_read(out, "backend-2"))["BACKEND_PORT"] == "8002"
    assert shlex.split(backend["ExecStartPost"][0])[3] == "http://127.0.0.1:8002/api/v1/health"
    nginx = _read(out, "nginx")["Service"]
    assert "daemon off;" in (out.parent / "prod" / "nginx.conf").read_text()  # nginx stays in the foreground
    assert shlex.split(nginx["ExecStart"][0])[0] == "/usr/sbin/nginx"


def test_no_secret_in_a_unit_each_part_has_its_own_private_environment_file(
    units: tuple[Path, dict[str, str]],
) -> None:
    out, secrets = units
    values = [*secrets.values(), WECHAT["WECHAT_SECRET"], WECHAT["WECHAT_AES_KEY"], WECHAT["WECHAT_TOKEN"]]
    for path in out.glob("*.service"):
        text = path.read_text()
        assert not any(value in text for value in values), path.name
    backend = _read(out, "backend-1")["Service"]
    assert backend["EnvironmentFile"] == ["-/etc/jiujin/jiujin.env", "/etc/jiujin/backend-1.env"]
    own = (out / "backend-1.env").read_text()
    assert f"JIUJIN_TOOLS_TOKEN={secrets['JIUJIN_TOOLS_TOKEN']}\n" in own
    assert "DATABASE_URL=postgresql://" in own and "WECHAT_SECRET=" in own
    assert stat.S_IMODE((out / "backend-1.env").stat().st_mode) == 0o600
    actions = (out / "actions-1.env").read_text()
    assert "JIUJIN_TOOLS_TOKEN" not in actions and "ACTION_SERVER_TOKEN=" in actions
    assert _environment(_read(out, "backend-1"))["WECHAT_APPID"] == "wxrealaccount01"  # not secret: in the unit
    assert not (out / "nginx.env").exists()  # nginx holds no secret


def test_a_word_with_spaces_or_specifiers_survives_systemd_quoting(tmp_path: Path) -> None:
    part = Part("odd", ("/bin/echo", "two words", "100%", "$HOME"), {"GREETING": 'say "hi" 100%'}, summary="odd")
    unit = parse_unit(service(part, env_dir=tmp_path))
    assert unit["Service"]["ExecStart"] == ['/bin/echo "two words" 100%% $$HOME']
    assert unit["Service"]["Environment"] == ['"GREETING=say \\"hi\\" 100%%"']
    oneshot = parse_unit(service(Part("setup", ("/bin/true",), oneshot=True), env_dir=tmp_path))
    assert oneshot["Service"]["Type"] == ["oneshot"] and "Restart" not in oneshot["Service"]


def test_without_a_real_official_account_there_are_no_units(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="real Official Account"):
        write_production_units(StackConfig(folder=tmp_path), tmp_path / "units")
    assert Stack("test", (), tmp_path).for_production_units().parts == ()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_itself_accepts_the_units(units: tuple[Path, dict[str, str]]) -> None:
    out, _ = units
    files = [str(path) for path in sorted(out.glob("*.service"))] + [str(out / TARGET)]
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *files], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert not any(word in done.stderr for word in ("Failed", "ignoring", "Unknown", "Invalid")), done.stderr
