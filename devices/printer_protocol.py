"""What the worker and a receipt printer say to each other besides the document: status and process-ID requests.

The documents themselves are ordinary ESC/POS (`devices.receipts`). Two exchanges let the worker know what the
printer is doing; the printer worker and the printer simulator both take them from here.

Real-time status, ``DLE EOT n`` (10h 04h n); the printer answers one status byte at once, even while offline:

=====  ==================  ======================================================================================
n      Asks for            Bits of the answer that matter here (the others are fixed: bit 1 and bit 4 set)
=====  ==================  ======================================================================================
1      printer status      bit 3 (08h) ``OFFLINE``: set while the printer does not print. Bit 2 (04h), the cash
                           drawer connector's signal, reads high (no drawer is connected).
2      offline cause       bit 2 (04h) ``COVER_OPEN``; bit 5 (20h) ``PAPER_END_STOP``: printing stopped, no paper.
4      paper sensor        bits 2–3 (0Ch) ``PAPER_NEAR_END``; bits 5–6 (60h) ``PAPER_END``: the roll is empty.
=====  ==================  ======================================================================================

Process ID, ``GS ( H 6 0 48 48 d1 d2 d3 d4`` (1Dh 28h 48h 06h 00h 30h 30h d1..d4): the printer answers
``37h 22h d1 d2 d3 d4 00h`` once everything sent before the request is printed, and never while offline. The four ID
bytes carry the print job's id (characters 30h–7Eh, base 79, most significant first), so the worker knows the job
came out and the simulator names its files after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

STATUS_REQUEST = b"\x10\x04"
"""DLE EOT, followed by the one byte ``n`` saying which status is asked for."""
FIXED_STATUS_BITS = 0x12
"""Bits 1 and 4, set in every status byte."""
DRAWER_SIGNAL = 0x04
"""In the printer status: the drawer connector's pin 3, high with no drawer attached."""


class StatusKind(IntEnum):
    """The ``n`` of ``DLE EOT n``: which status byte the printer sends back."""

    PRINTER = 1
    OFFLINE_CAUSE = 2
    PAPER_SENSOR = 4


OFFLINE = 0x08
"""In the printer status: the printer does not print (no paper, cover open)."""
COVER_OPEN = 0x04
"""In the offline cause: the paper cover is open."""
PAPER_END_STOP = 0x20
"""In the offline cause: printing stopped because the paper ran out."""
PAPER_NEAR_END = 0x0C
"""In the paper sensor: the roll is nearly used up (the printer still prints)."""
PAPER_END = 0x60
"""In the paper sensor: the roll is empty."""

ID_FIRST, ID_BASE, ID_DIGITS = 0x30, 79, 4
MAX_JOB_ID = ID_BASE**ID_DIGITS - 1
"""The largest job id four ID bytes carry."""
PROCESS_ID_REQUEST = b"\x1d(H\x06\x00\x30\x30"
"""GS ( H with pL pH = 6 0, fn = 48, m = 48; the four ID bytes follow."""
PROCESS_ID_RESPONSE = b"\x37\x22"
"""The header of the printer's answer; the four ID bytes and 00h follow."""


def status_request(kind: StatusKind) -> bytes:
    """The bytes asking for one status byte."""
    return STATUS_REQUEST + bytes([kind])


@dataclass(frozen=True)
class PrinterStatus:
    """What the three status bytes say, in the printer's terms."""

    online: bool
    cover_open: bool = False
    paper_out: bool = False
    paper_near_end: bool = False

    def status_byte(self, kind: StatusKind) -> int:
        """The byte a printer in this state answers to ``DLE EOT kind``."""
        if kind is StatusKind.PRINTER:
            return FIXED_STATUS_BITS | DRAWER_SIGNAL | (0 if self.online else OFFLINE)
        if kind is StatusKind.OFFLINE_CAUSE:
            return (
                FIXED_STATUS_BITS | (COVER_OPEN if self.cover_open else 0) | (PAPER_END_STOP if self.paper_out else 0)
            )
        # An empty roll holder trips the near-end sensor too.
        near_end = PAPER_NEAR_END if self.paper_near_end or self.paper_out else 0
        return FIXED_STATUS_BITS | near_end | (PAPER_END if self.paper_out else 0)

    @classmethod
    def from_bytes(cls, printer: int, offline_cause: int, paper_sensor: int) -> PrinterStatus:
        """The state the answers to ``DLE EOT`` 1, 2 and 4 describe."""
        return cls(
            online=not printer & OFFLINE,
            cover_open=bool(offline_cause & COVER_OPEN),
            paper_out=bool(paper_sensor & PAPER_END == PAPER_END or offline_cause & PAPER_END_STOP),
            paper_near_end=bool(paper_sensor & PAPER_NEAR_END),
        )


def encode_job_id(job_id: int) -> bytes:
    """The four ID bytes of ``job_id``."""
    if not 0 <= job_id <= MAX_JOB_ID:
        raise ValueError(f"job id {job_id} is outside 0..{MAX_JOB_ID}")
    digits = []
    for _ in range(ID_DIGITS):
        job_id, digit = divmod(job_id, ID_BASE)
        digits.append(ID_FIRST + digit)
    return bytes(reversed(digits))


def decode_job_id(ident: bytes) -> int:
    """The job id carried by four ID bytes."""
    if len(ident) != ID_DIGITS or any(not ID_FIRST <= b < ID_FIRST + ID_BASE for b in ident):
        raise ValueError(f"not a process ID: {ident!r}")
    value = 0
    for byte in ident:
        value = value * ID_BASE + byte - ID_FIRST
    return value


def process_id_request(ident: bytes) -> bytes:
    """GS ( H: ask the printer to answer with ``ident`` once everything sent before is printed."""
    return PROCESS_ID_REQUEST + ident


def process_id_response(ident: bytes) -> bytes:
    """What the printer sends back once everything before the request is printed."""
    return PROCESS_ID_RESPONSE + ident + b"\x00"
