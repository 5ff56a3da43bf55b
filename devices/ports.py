"""The hall's serial devices by name, and the setting that names each one's port.

Without the hardware, ``python -m simulators.devices`` simulates each device whose setting is empty on a
pseudo-terminal under the stable name ``<folder>/<name>.tty`` (`link`), and the stack points the setting there.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

PORT_SETTINGS = {
    "ticket": "PRINTER_PORT_TICKET",
    "receipt": "PRINTER_PORT_RECEIPT",
    "keypads": "KEYPAD_PORT",
    "led-board": "LED_BOARD_PORT",
}
"""Each device's name and the setting of its serial port."""


def link(folder: Path, name: str) -> Path:
    """The stable name of simulated device ``name``'s pseudo-terminal."""
    return folder / f"{name}.tty"


def unconfigured(environ: Mapping[str, str]) -> list[str]:
    """The devices whose port setting is empty in ``environ`` (those the simulators stand in for)."""
    return [name for name, setting in PORT_SETTINGS.items() if not environ.get(setting, "").strip()]


def simulated_ports(environ: Mapping[str, str], folder: Path) -> dict[str, str]:
    """The port settings of the unconfigured devices, pointing at their simulators' pseudo-terminals in ``folder``."""
    return {PORT_SETTINGS[name]: str(link(folder, name)) for name in unconfigured(environ)}
