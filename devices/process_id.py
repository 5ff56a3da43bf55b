"""The process-ID request of ESC/POS (GS ( H, function 48): how a worker learns that a job came out of the printer.

The worker sends the job's bytes followed by ``GS ( H 6 0 48 48 d1 d2 d3 d4``; the printer answers
``37h 22h d1 d2 d3 d4 00h`` once everything before the request is printed. The four ID bytes carry the print
job's id (characters 30h–7Eh, base 79, most significant first), so the printer simulator also knows which job
it printed and names its files after it.
"""

from __future__ import annotations

FIRST, BASE, DIGITS = 0x30, 79, 4
MAX_JOB_ID = BASE**DIGITS - 1
RESPONSE_HEADER = b"\x37\x22"
REQUEST_PREFIX = b"\x1d(H\x06\x00\x30\x30"


def encode_job_id(job_id: int) -> bytes:
    """The four ID bytes of ``job_id``."""
    if not 0 <= job_id <= MAX_JOB_ID:
        raise ValueError(f"job id {job_id} is outside 0..{MAX_JOB_ID}")
    digits = []
    for _ in range(DIGITS):
        job_id, digit = divmod(job_id, BASE)
        digits.append(FIRST + digit)
    return bytes(reversed(digits))


def decode_job_id(ident: bytes) -> int:
    """The job id carried by four ID bytes."""
    if len(ident) != DIGITS or any(not FIRST <= b < FIRST + BASE for b in ident):
        raise ValueError(f"not a process ID: {ident!r}")
    value = 0
    for byte in ident:
        value = value * BASE + byte - FIRST
    return value


def request_bytes(ident: bytes) -> bytes:
    """GS ( H: ask the printer to answer with ``ident`` once everything sent before is printed."""
    return REQUEST_PREFIX + ident


def response_bytes(ident: bytes) -> bytes:
    """What the printer sends back."""
    return RESPONSE_HEADER + ident + b"\x00"
