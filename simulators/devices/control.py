"""A loopback control for the simulated devices under ``make run``: press a window keypad's keys, put a printer out
of paper or unplug it, read what a keypad shows. For people trying the hall without hardware, and for tests.

    POST /keypads/3/N            下一位 at window 3 (R 重呼, S 过号, P 暂停, T 转窗口 with ?to=5)
    GET  /keypads/3              what window 3's keypad shows
    POST /printers/ticket/paper-out   (refill, open-cover, close-cover, unplug, replug)
    GET  /health
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from simulators.devices.keypad import KeypadSimulator
from simulators.devices.printer import PrinterSimulator

PRINTER_FAULTS = {
    "paper-out": "paper_out",
    "refill": "refill",
    "open-cover": "open_cover",
    "close-cover": "close_cover",
    "unplug": "unplug",
    "replug": "replug",
}


class DeviceControl:
    """Serves the control on ``host``:``port`` (loopback unless configured) in a thread, for the simulators it is
    given. It can press keys and unplug printers: keep it off the network."""

    def __init__(
        self,
        port: int,
        keypads: KeypadSimulator | None,
        printers: dict[str, PrinterSimulator],
        *,
        host: str = "127.0.0.1",
    ) -> None:
        self.keypads, self.printers = keypads, printers
        control = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                control._get(self)

            def do_POST(self) -> None:
                control._post(self)

            def log_message(self, format: str, *args: object) -> None:  # the devices log says enough
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="device-control", daemon=True)

    def start(self) -> DeviceControl:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _get(self, request: BaseHTTPRequestHandler) -> None:
        path = urlsplit(request.path).path
        if path == "/health":
            return _reply(request, 200, {"status": "ok"})
        if (match := re.fullmatch(r"/keypads/(\d{1,2})", path)) and self.keypads:
            return _reply(request, 200, {"window": int(match[1]), "display": self.keypads.display(int(match[1]))})
        return _reply(request, 404, {"error": "unknown path"})

    def _post(self, request: BaseHTTPRequestHandler) -> None:
        url = urlsplit(request.path)
        if (match := re.fullmatch(r"/keypads/(\d{1,2})/([NRSPT])", url.path)) and self.keypads:
            target = parse_qs(url.query).get("to", [None])[0]
            if match[2] == "T" and not (target and target.isdigit()):
                return _reply(request, 400, {"error": "T needs ?to=<window>"})
            self.keypads.press(int(match[1]), match[2], int(target) if target else None)
            return _reply(request, 202, {"pressed": match[2], "window": int(match[1])})
        if (match := re.fullmatch(r"/printers/(\w+)/([\w-]+)", url.path)) and match[1] in self.printers:
            if match[2] not in PRINTER_FAULTS:
                return _reply(request, 400, {"error": f"one of {sorted(PRINTER_FAULTS)}"})
            getattr(self.printers[match[1]], PRINTER_FAULTS[match[2]])()
            return _reply(request, 200, {"printer": match[1], "done": match[2]})
        return _reply(request, 404, {"error": "unknown path"})


def _reply(request: BaseHTTPRequestHandler, status: int, body: dict) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json; charset=utf-8")
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)
