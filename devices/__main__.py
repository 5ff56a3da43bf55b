"""Run the centre's devices: ``python -m devices``.

For each printer (ticket, receipt) a worker prints its jobs from the backend's spool. With a real printer attached,
``PRINTER_PORT_TICKET`` / ``PRINTER_PORT_RECEIPT`` name its serial port; without, a simulator on a pseudo-terminal
takes its place, keeping every document as ``var/devices/printer/<job id>.txt`` and ``.png``, and the port is
reachable under the stable name ``var/devices/<printer>.tty``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading
from pathlib import Path

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
    args = parser.parse_args(argv)
    # force: python-escpos logs through the root logger early, which would leave it at WARNING.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with contextlib.ExitStack() as running:
        threads = []
        for name in PRINTERS:
            port = os.environ.get(f"PRINTER_PORT_{name.upper()}", "").strip()
            if not port:
                link = args.folder / f"{name}.tty"
                running.enter_context(PrinterSimulator(args.folder / "printer", name=name, link=link))
                port = str(link)
                logging.info("%s printer: simulator on %s", name, link)
            worker = PrinterWorker(name, SerialPrinter(port), args.backend, follow_url=args.follow_url)
            thread = threading.Thread(target=worker.run, args=(stop,), name=f"printer-{name}", daemon=True)
            thread.start()
            threads.append(thread)
        stop.wait()
        for thread in threads:
            thread.join(timeout=10)


if __name__ == "__main__":
    main()
