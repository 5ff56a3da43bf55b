"""Run the centre's devices: ``python -m devices``.

- For each printer (ticket, receipt) a worker prints its jobs from the backend's spool.
- The window keypads' bus: their presses call numbers at the backend, their displays show the result.
- The LED board and the announcements follow the hall's events (the same stream as the board page at /board).

Each serial device has a port setting (``PRINTER_PORT_TICKET``, ``PRINTER_PORT_RECEIPT``, ``KEYPAD_PORT``,
``LED_BOARD_PORT``). Without one, a simulator on a pseudo-terminal takes the device's place, reachable under the
stable name ``var/devices/<device>.tty``: the printers keep every document as ``var/devices/printer/<job id>.txt``
and ``.png``, the LED board its lines in ``var/devices/led-board.txt``. Announcements are kept as WAV files in
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
from devices.control import DeviceControl
from devices.keypad import KeypadBus
from devices.keypad_sim import KeypadSimulator
from devices.led_board import LedBoard
from devices.led_sim import LedBoardSimulator
from devices.printer_sim import PrinterSimulator
from devices.printer_worker import PrinterWorker, SerialPrinter
from devices.queue_events import run_consumer
from voice.tts import Speaker

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PRINTERS = ("ticket", "receipt")
SHUTDOWN_S = 5


@dataclass
class Hall:
    """What runs: the simulators standing in for missing hardware, and one thread per driver."""

    folder: Path
    backend: str
    stop: threading.Event
    running: contextlib.ExitStack
    printers: dict[str, PrinterSimulator] = field(default_factory=dict)
    keypads: KeypadSimulator | None = None
    threads: list[threading.Thread] = field(default_factory=list)

    def port(self, setting: str, name: str, simulator: Callable[[Path], object]) -> str:
        """The configured serial port, or a simulator's stable name when none is configured."""
        configured = os.environ.get(setting, "").strip()
        if configured:
            return configured
        link = self.folder / f"{name}.tty"
        self.running.enter_context(simulator(link))  # type: ignore[arg-type]
        logging.info("%s: simulator on %s", name, link)
        return str(link)

    def thread(self, name: str, target: Callable[..., None], *args: object) -> None:
        self.threads.append(threading.Thread(target=target, args=args, name=name, daemon=True))
        self.threads[-1].start()


def start_printers(hall: Hall, follow_url: str) -> None:
    for name in PRINTERS:

        def simulator(link: Path, name: str = name) -> PrinterSimulator:
            hall.printers[name] = PrinterSimulator(hall.folder / "printer", name=name, link=link)
            return hall.printers[name]

        port = hall.port(f"PRINTER_PORT_{name.upper()}", name, simulator)
        worker = PrinterWorker(name, SerialPrinter(port), hall.backend, follow_url=follow_url)
        hall.thread(f"printer-{name}", worker.run, hall.stop)


def start_keypads(hall: Hall) -> None:
    def simulator(link: Path) -> KeypadSimulator:
        hall.keypads = KeypadSimulator(link=link)
        return hall.keypads

    bus = KeypadBus(hall.port("KEYPAD_PORT", "keypads", simulator), hall.backend)
    hall.thread("keypads", bus.run, hall.stop)


def start_led_board(hall: Hall) -> None:
    def simulator(link: Path) -> LedBoardSimulator:
        return LedBoardSimulator(link=link, out_file=hall.folder / "led-board.txt")

    board = LedBoard(hall.port("LED_BOARD_PORT", "led-board", simulator))
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
    parser.add_argument(
        "--follow-url",
        default=os.environ.get("FOLLOW_URL", "http://127.0.0.1:8000/follow"),
        help="where the QR codes on tickets and receipts lead (FOLLOW_URL)",
    )
    parser.add_argument(
        "--control-port",
        type=int,
        default=int(os.environ.get("DEVICES_CONTROL_PORT", "5080")),
        help="loopback control of the simulators (DEVICES_CONTROL_PORT; 0: none)",
    )
    parser.add_argument(
        "--control-host",
        default=os.environ.get("DEVICES_CONTROL_HOST", "127.0.0.1"),
        help="the interface the simulators' control listens on (DEVICES_CONTROL_HOST)",
    )
    args = parser.parse_args(argv)
    # force: python-escpos logs through the root logger early, which would leave it at WARNING.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    # Each printer polls the spool twice a second: httpx's line per request would bury what the drivers say.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with contextlib.ExitStack() as running:
        hall = Hall(args.folder, args.backend, stop, running)
        start_printers(hall, args.follow_url)
        start_keypads(hall)
        start_led_board(hall)
        start_announcer(hall)
        if args.control_port and (hall.printers or hall.keypads):
            control = DeviceControl(args.control_port, hall.keypads, hall.printers, host=args.control_host).start()
            running.callback(control.stop)
            logging.info("simulator control on http://%s:%d/", args.control_host, args.control_port)
        stop.wait()
        # Drivers finish their current job; event followers may sit in a read until the next keep-alive: they are
        # daemon threads and end with the process.
        deadline = time.monotonic() + SHUTDOWN_S
        for thread in hall.threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0))


if __name__ == "__main__":
    main()
