"""Run the centre's devices: ``python -m devices``.

- For each printer (ticket, receipt) a worker prints its jobs from the backend's spool.
- The window keypads' bus: their presses call numbers at the backend, their displays show the result.
- The LED board and the announcements follow the hall's events (the same stream as the board page at /board).

Each serial device has a port setting (``PRINTER_PORT_TICKET``, ``PRINTER_PORT_RECEIPT``, ``KEYPAD_PORT``,
``LED_BOARD_PORT``); one that is missing stops the start with the setting's name. Without the hardware,
``python -m simulators.devices`` makes simulated devices under stable names (``var/devices/<device>.tty``), and
``make run`` starts it first and points these settings there. Announcements are kept as WAV files in
``var/devices/announcements/`` and played where the machine has a sound device.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devices.announcer import Announcer
from devices.keypad import KeypadBus
from devices.led_board import LedBoard
from devices.ports import PORT_SETTINGS
from devices.printer_worker import PrinterWorker, SerialPrinter
from devices.queue_events import run_consumer
from voice.tts import Speaker

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PRINTERS = ("ticket", "receipt")
SHUTDOWN_S = 5


class PortMissing(RuntimeError):
    """A device's port setting is empty."""


def configured_port(setting: str) -> str:
    """The serial port a setting names (PortMissing when it names none)."""
    port = os.environ.get(setting, "").strip()
    if not port:
        raise PortMissing(
            f"{setting} is not set: name the device's serial port, or run the simulators "
            "(python -m simulators.devices, as make run does) and set it to their var/devices/<device>.tty"
        )
    return port


@dataclass
class Hall:
    """What runs: one thread per driver."""

    folder: Path
    backend: str
    stop: threading.Event
    running: contextlib.ExitStack
    threads: list[threading.Thread] = field(default_factory=list)

    def thread(self, name: str, target: Callable[..., None], *args: object) -> None:
        self.threads.append(threading.Thread(target=target, args=args, name=name, daemon=True))
        self.threads[-1].start()


def start_printers(hall: Hall) -> None:
    for name in PRINTERS:
        worker = PrinterWorker(name, SerialPrinter(configured_port(f"PRINTER_PORT_{name.upper()}")), hall.backend)
        hall.thread(f"printer-{name}", worker.run, hall.stop)


def start_keypads(hall: Hall) -> None:
    bus = KeypadBus(configured_port("KEYPAD_PORT"), hall.backend)
    hall.thread("keypads", bus.run, hall.stop)


def start_led_board(hall: Hall) -> None:
    board = LedBoard(configured_port("LED_BOARD_PORT"))
    hall.running.callback(board.close)
    hall.thread("led-board", run_consumer, "led board", hall.backend, board.handle, hall.stop)
    hall.thread("led-board-link", board.keep_connected, hall.stop)


def start_announcer(hall: Hall) -> None:
    speaker = hall.running.enter_context(Speaker())
    if not speaker.available():
        logging.warning("no Mandarin speech here (pyttsx3 with espeak-ng cmn-latn-pinyin): announcements chime only")
    # Without speech the speaker still plays: the chime rings in the hall and the text is written beside it.
    announcer = Announcer(speaker, hall.folder / "announcements")
    hall.thread("announcer", run_consumer, "announcer", hall.backend, announcer.handle, hall.stop)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devices", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=os.environ.get("BACKEND_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--folder", type=Path, default=PROJECT_ROOT / "var" / "devices")
    args = parser.parse_args(argv)
    try:
        for setting in PORT_SETTINGS.values():
            configured_port(setting)
    except PortMissing as missing:
        parser.exit(2, f"python -m devices: {missing}\n")
    # force: python-escpos logs through the root logger early, which would leave it at WARNING.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    # Each printer polls the spool twice a second: httpx's line per request would bury what the drivers say.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with contextlib.ExitStack() as running:
        hall = Hall(args.folder, args.backend, stop, running)
        start_printers(hall)
        start_keypads(hall)
        start_led_board(hall)
        start_announcer(hall)
        stop.wait()
        # Drivers finish their current job; event followers may sit in a read until the next keep-alive: they are
        # daemon threads and end with the process.
        deadline = time.monotonic() + SHUTDOWN_S
        for thread in hall.threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0))


if __name__ == "__main__":
    main()
