"""Run the centre's devices: ``python -m devices``.

- For each printer (ticket, receipt) a worker prints its jobs from the backend's spool.
- The window keypads' bus: their presses call numbers at the backend, their displays show the result.

Each device has a serial port setting (``PRINTER_PORT_TICKET``, ``PRINTER_PORT_RECEIPT``, ``KEYPAD_PORT``). Without
one, a simulator on a pseudo-terminal takes the device's place, reachable under the stable name
``var/devices/<device>.tty``; the printer simulators keep every document as ``var/devices/printer/<job id>.txt``
and ``.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading
from pathlib import Path

from devices.control import DeviceControl
from devices.keypad import KeypadBus
from devices.keypad_sim import KeypadSimulator
from devices.printer_sim import PrinterSimulator
from devices.printer_worker import PrinterWorker, SerialPrinter

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PRINTERS = ("ticket", "receipt")


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
    args = parser.parse_args(argv)
    # force: python-escpos logs through the root logger early, which would leave it at WARNING.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with contextlib.ExitStack() as running:
        threads = []
        simulated: dict[str, PrinterSimulator] = {}
        keypad_simulator: KeypadSimulator | None = None
        for name in PRINTERS:
            port = os.environ.get(f"PRINTER_PORT_{name.upper()}", "").strip()
            if not port:
                link = args.folder / f"{name}.tty"
                simulated[name] = running.enter_context(PrinterSimulator(args.folder / "printer", name=name, link=link))
                port = str(link)
                logging.info("%s printer: simulator on %s", name, link)
            worker = PrinterWorker(name, SerialPrinter(port), args.backend, follow_url=args.follow_url)
            thread = threading.Thread(target=worker.run, args=(stop,), name=f"printer-{name}", daemon=True)
            thread.start()
            threads.append(thread)
        keypad_port = os.environ.get("KEYPAD_PORT", "").strip()
        if not keypad_port:
            link = args.folder / "keypads.tty"
            keypad_simulator = running.enter_context(KeypadSimulator(link=link))
            keypad_port = str(link)
            logging.info("keypads: simulator on %s", link)
        keypads = KeypadBus(keypad_port, args.backend)
        threads.append(threading.Thread(target=keypads.run, args=(stop,), name="keypads", daemon=True))
        threads[-1].start()
        if args.control_port and (simulated or keypad_simulator):
            control = DeviceControl(args.control_port, keypad_simulator, simulated).start()
            running.callback(control.stop)
            logging.info("simulator control on http://127.0.0.1:%d/", args.control_port)
        stop.wait()
        for thread in threads:
            thread.join(timeout=10)


if __name__ == "__main__":
    main()
