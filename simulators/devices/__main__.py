"""Run the hall's device simulators: ``python -m simulators.devices``.

Every serial device whose port setting is empty (``PRINTER_PORT_TICKET``, ``PRINTER_PORT_RECEIPT``, ``KEYPAD_PORT``,
``LED_BOARD_PORT``) is simulated on a pseudo-terminal reachable under the stable name ``<folder>/<device>.tty``,
which the drivers (``python -m devices``) open as their port. The printers keep every document as
``<folder>/printer/<job id>.txt`` and ``.png``, the LED board its lines in ``<folder>/led-board.txt``. A loopback
control (``--control-port``, DEVICES_CONTROL_PORT, default 5080; 0: none) presses keys and unplugs printers
(`simulators.devices.control`). Development and tests only: a real site has the devices themselves.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading
from pathlib import Path

from devices.ports import link, unconfigured
from simulators.devices.control import DeviceControl
from simulators.devices.keypad import KeypadSimulator
from simulators.devices.led_board import LedBoardSimulator
from simulators.devices.printer import PrinterSimulator

log = logging.getLogger("simulators.devices")

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
PRINTERS = ("ticket", "receipt")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.devices", description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=PROJECT_ROOT / "var" / "devices")
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    names = unconfigured(os.environ)
    args.folder.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as running:
        printers: dict[str, PrinterSimulator] = {}
        keypads: KeypadSimulator | None = None
        for name in names:
            tty = link(args.folder, name)
            tty.unlink(missing_ok=True)  # a link left by a simulator that was killed
            if name in PRINTERS:
                printers[name] = running.enter_context(PrinterSimulator(args.folder / "printer", name=name, link=tty))
            elif name == "keypads":
                keypads = running.enter_context(KeypadSimulator(link=tty))
            else:
                out_file = args.folder / "led-board.txt"
                running.enter_context(LedBoardSimulator(link=tty, out_file=out_file))
            log.info("%s: simulator on %s", name, tty)
        if args.control_port and (printers or keypads):
            control = DeviceControl(args.control_port, keypads, printers, host=args.control_host).start()
            running.callback(control.stop)
            log.info("simulator control on http://%s:%d/", args.control_host, args.control_port)
        stop.wait()


if __name__ == "__main__":
    main()
