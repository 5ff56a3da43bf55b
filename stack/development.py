"""The development profile (``make run``): one of each part on embedded defaults (SQLite in var/, in-process
stores), the simulators standing in for WeChat and the hall's devices, every listener on loopback.

Ports, overridable by the environment (``.env`` included by make): backend 8000 (BACKEND_PORT), Rasa 5005
(RASA_PORT), action server 5055 (ACTION_PORT), WeChat simulator 5070 (WECHAT_SIMULATOR_PORT), the devices'
simulator control 5080 (DEVICES_CONTROL_PORT), counter service 5090 (COUNTER_PORT).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from devices.ports import simulated_ports
from stack import commands
from stack.parts import Part, Stack
from stack.process import PROJECT_ROOT

VAR = PROJECT_ROOT / "var"
COUNTER = "counter-1"
"""The counter `make run` provisions: its screen's URL is printed, its microphone side listens when it can."""
VOICE_MODEL = VAR / "voice" / "vosk-model-small-cn-0.22"
"""Where ``make voice-model`` puts the Chinese speech model."""
DEVELOPMENT_WECHAT = {
    "WECHAT_APPID": "wxjiujindevelop01",
    "WECHAT_SECRET": "jiujin-development-secret",
    "WECHAT_TOKEN": "jiujin-development-token",
    "WECHAT_AES_KEY": "jiujinDevelopmentOnlyAesKey0123456789abcdef",
}
"""Development-only WeChat credentials (no WECHAT_APPID given): with them the stack talks to the WeChat simulator,
never to WeChat. Under ``make run`` a WECHAT_TOKEN that is set is kept, and so is a WECHAT_AES_KEY set to "" (plaintext
mode)."""


def _setting(environ: Mapping[str, str], name: str, default: str) -> str:
    return environ.get(name, "").strip() or default


def _reachable(host: str) -> str:
    """Where this machine reaches a listener bound to ``host`` (every interface: loopback)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What every part of the development stack is given on top of ``environ``: ports, interfaces (loopback
    unless set), the parts' URLs, the speech model when it is there, and the simulator's WeChat account when no
    real one is configured."""
    backend_host = _setting(environ, "BACKEND_HOST", "127.0.0.1")
    ports = {
        name: _setting(environ, name, default)
        for name, default in (
            ("BACKEND_PORT", "8000"),
            ("ACTION_PORT", "5055"),
            ("RASA_PORT", "5005"),
            ("WECHAT_SIMULATOR_PORT", "5070"),
            ("DEVICES_CONTROL_PORT", "5080"),
            ("COUNTER_PORT", "5090"),
        )
    }
    env = {
        "BACKEND_HOST": backend_host,
        **ports,
        "RASA_HOST": _setting(environ, "RASA_HOST", "127.0.0.1"),
        "ACTION_HOST": _setting(environ, "ACTION_HOST", "127.0.0.1"),
        "COUNTER_HOST": _setting(environ, "COUNTER_HOST", "127.0.0.1"),
        "WECHAT_SIMULATOR_HOST": _setting(environ, "WECHAT_SIMULATOR_HOST", "127.0.0.1"),
        "DEVICES_CONTROL_HOST": _setting(environ, "DEVICES_CONTROL_HOST", "127.0.0.1"),
        "BACKEND_URL": _setting(environ, "BACKEND_URL", f"http://{backend_host}:{ports['BACKEND_PORT']}"),
        "ACTION_SERVER_URL": _setting(environ, "ACTION_SERVER_URL", f"http://127.0.0.1:{ports['ACTION_PORT']}/webhook"),
        "RASA_URL": _setting(environ, "RASA_URL", f"http://127.0.0.1:{ports['RASA_PORT']}"),
        "COUNTER_URL": _setting(environ, "COUNTER_URL", f"http://127.0.0.1:{ports['COUNTER_PORT']}"),
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    if not environ.get("VOSK_MODEL_PATH") and VOICE_MODEL.is_dir():
        env["VOSK_MODEL_PATH"] = str(VOICE_MODEL)
    if not environ.get("WECHAT_APPID"):
        env |= DEVELOPMENT_WECHAT
        env["WECHAT_TOKEN"] = environ.get("WECHAT_TOKEN") or DEVELOPMENT_WECHAT["WECHAT_TOKEN"]
        env["WECHAT_AES_KEY"] = environ.get("WECHAT_AES_KEY", DEVELOPMENT_WECHAT["WECHAT_AES_KEY"])
        env["WECHAT_API_BASE_URL"] = f"http://127.0.0.1:{ports['WECHAT_SIMULATOR_PORT']}/cgi-bin/"
    return env


def stack(environ: Mapping[str, str], *, log_folder: Path = VAR / "log") -> Stack:
    """The development stack for ``environ`` (the environment ``make run`` starts in)."""
    env = environment(environ)
    merged = {**environ, **env}
    loopback = "http://127.0.0.1"
    devices_folder = VAR / "devices"
    simulated_devices = simulated_ports(environ, devices_folder)
    control_port = int(env["DEVICES_CONTROL_PORT"])
    control_host = env["DEVICES_CONTROL_HOST"]
    backend_url = f"http://{_reachable(env['BACKEND_HOST'])}:{env['BACKEND_PORT']}"
    parts = [
        Part(
            "backend",
            commands.backend(),
            env,
            f"{backend_url}/api/v1/health",
            summary="jiujin backend (API, pages, console)",
        ),
        Part(
            "kiosk-add",
            commands.jiujin("kiosk", "add", COUNTER),
            env,
            after=("backend",),
            oneshot=True,
            summary=f"provision {COUNTER}'s credential (again: nothing changes)",
        ),
        # The action server answers only Rasa (its shared secret: ACTION_SERVER_TOKEN or
        # var/secrets/action-server-token).
        Part(
            "actions",
            commands.actions(int(env["ACTION_PORT"])),
            env,
            f"{loopback}:{env['ACTION_PORT']}/health",
            after=("backend",),
            summary="jiujin action server",
        ),
        # "/" answers once the model is loaded; Rasa's HTTP API is on only with RASA_TOKEN or RASA_TOKEN_FILE.
        Part(
            "rasa",
            commands.rasa(int(env["RASA_PORT"])),
            env,
            f"{loopback}:{env['RASA_PORT']}/",
            ready_within_s=commands.RASA_READY_S,
            after=("actions",),
            summary="jiujin Rasa server",
        ),
        Part(
            "counter",
            (commands.PYTHON, "-m", "counter"),
            env,
            f"{loopback}:{env['COUNTER_PORT']}/health",
            after=("rasa", "kiosk-add"),
            summary="jiujin counter service (kiosk screens, speech)",
        ),
    ]
    if not environ.get("WECHAT_APPID"):
        record = VAR / "wechat" / "outbound.jsonl"
        webhook = f"{loopback}:{env['RASA_PORT']}/webhooks/wechat/webhook"
        simulator_port = int(env["WECHAT_SIMULATOR_PORT"])
        parts += [
            Part(
                "wechat-simulator",
                commands.wechat_simulator(simulator_port, webhook, host=env["WECHAT_SIMULATOR_HOST"], record=record),
                env,
                f"{loopback}:{simulator_port}/health",
                after=("rasa",),
                development_only=True,
                summary="WeChat's servers and API, simulated",
            ),
            Part(
                "wechat-menu",
                (commands.PYTHON, "-m", "backend.cli", "wechat", "menu", "publish"),
                env,
                after=("wechat-simulator",),
                oneshot=True,
                essential=False,
                summary="publish the Official Account's menu",
            ),
        ]
    if simulated_devices:
        parts.append(
            Part(
                "device-simulators",
                commands.device_simulators(devices_folder, control_port, control_host=control_host),
                env,
                f"http://{_reachable(control_host)}:{control_port}/health" if control_port else None,
                development_only=True,
                summary="the hall's printers, keypads and LED board, simulated on pseudo-terminals",
            )
        )
    parts.append(
        Part(
            "devices",
            commands.devices(env["BACKEND_URL"], devices_folder),
            env | simulated_devices,
            after=("backend", "device-simulators") if simulated_devices else ("backend",),
            summary="jiujin device drivers (printers, keypads, LED board, announcements)",
        )
    )
    # The counter at the microphone needs the speech model; without a microphone it says so in its log and stops,
    # and the rest of the stack carries on (the screen still works).
    if merged.get("VOSK_MODEL_PATH"):
        parts.append(
            Part(
                "microphone",
                commands.jiujin("counter", "--counter", COUNTER),
                env,
                after=("counter",),
                essential=False,
                summary=f"{COUNTER} at the microphone",
            )
        )
    return Stack("development", tuple(parts), log_folder)


def kiosk_url() -> str:
    """The URL counter-1's screen opens (``bin/jiujin kiosk url``)."""
    done = subprocess.run(
        commands.jiujin("kiosk", "url", COUNTER), cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or f"(bin/jiujin kiosk url {COUNTER} failed: {done.stderr.strip()[-200:]})"


def banner(described: Stack, environ: Mapping[str, str]) -> str:
    """What ``make run`` prints once every part is ready: where to reach each one."""
    env = {**environ, **environment(environ)}
    rasa, action, backend = env["RASA_PORT"], env["ACTION_PORT"], f"http://{env['BACKEND_HOST']}:{env['BACKEND_PORT']}"
    wechat_mode = "safe (AES) mode" if env.get("WECHAT_AES_KEY") else "plaintext mode"
    rasa_api = (
        "on, with its token"
        if env.get("RASA_TOKEN") or env.get("RASA_TOKEN_FILE")
        else ("off (set RASA_TOKEN or RASA_TOKEN_FILE to turn it on)")
    )
    if "microphone" in described.names:
        counter_line = "listening at the microphone (var/log/microphone.log)"
    else:
        counter_line = (
            f"bin/jiujin counter --counter {COUNTER} (needs VOSK_MODEL_PATH: make voice-model), "
            "or --wav IN --reply-wav OUT"
        )
    control = env["DEVICES_CONTROL_PORT"]
    lines = [
        "jiujin is running (logs in var/log/, data in var/). Ctrl-C stops everything.",
        f"  chat (REST)     POST http://127.0.0.1:{rasa}/webhooks/rest/webhook   "
        '({"sender": "me", "message": "我想办居住证"})',
        "  chat (terminal) make chat",
        f"  WeChat webhook  http://127.0.0.1:{rasa}/webhooks/wechat/webhook   ({wechat_mode})",
        f"  backend API     {backend}/api/v1/items",
        f"  OpenAPI         {backend}/api/v1/openapi.json",
        f"  action server   http://127.0.0.1:{action}/health   (its webhook wants the shared secret)",
        f"  Rasa HTTP API   {rasa_api}",
        f"  display board   {backend}/board",
        f"  voice counter   {kiosk_url()}   ({COUNTER}'s screen; {counter_line})",
        "  API token       var/secrets/api-token   (send it as Authorization: Bearer …; every /api/v1 call but the"
        " public reads)",
        "  printers        var/devices/printer/<job id>.txt and .png   (take a number: POST /api/v1/queue/tickets"
        ' {"category": "A", "channel": "counter"} with the token)',
        f"  keypads         POST http://127.0.0.1:{control}/keypads/3/N   (下一位 at window 3; R 重呼, S 过号, P 暂停,"
        " T?to=5 转窗口)",
    ]
    if "wechat-simulator" in described.names:
        lines.append(
            f"  chat as WeChat  http://127.0.0.1:{env['WECHAT_SIMULATOR_PORT']}/   "
            "(the simulator plays WeChat's servers and API)"
        )
    return "\n".join(lines)
