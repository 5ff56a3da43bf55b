"""The frame protocol of the caller keypads at the service windows, all on one RS-485 bus (9600 baud, 8N1).

One frame on the wire::

    +------+---------+---------+-----+--------+---------------+----------+------+
    | STX  | address | command | seq | length | payload       | checksum | ETX  |
    | 0x02 | 1 byte  | 1 byte  | 1 B | 1 byte | length bytes  | 1 byte   | 0x03 |
    +------+---------+---------+-----+--------+---------------+----------+------+
           |<----------- stuffed (see below); the checksum covers address..payload ----------->|

=========  ========  ===========================================================================================
Field      Size      Meaning
=========  ========  ===========================================================================================
STX        1         0x02, start of frame. Only ever appears here (see stuffing).
address    1         The keypad the exchange is with = its window number, 1–32. In a keypad's frame it is the
                     sender, in the server's reply the recipient. 0 is reserved for the server and is never a
                     keypad; 33–255 are not used.
command    1         One ASCII letter, see the command table.
seq        1         0–255. A keypad adds 1 (mod 256) per key press and repeats it unchanged when it resends the
                     same press; the server's reply carries the seq of the press it answers.
length     1         Number of payload bytes, 0–255.
payload    length    Depends on the command.
checksum   1         CRC-8/MAXIM (Dallas 1-Wire) over address, command, seq, length and payload, before
                     stuffing: polynomial 0x31 reflected (0x8C), init 0x00, input and output reflected, no final
                     XOR. Check value: CRC of ASCII "123456789" = 0xA1.
ETX        1         0x03, end of frame.
=========  ========  ===========================================================================================

Byte stuffing: between STX and ETX, every byte equal to STX (0x02), ETX (0x03) or DLE (0x10) — in any field,
the checksum included — is sent as two bytes, DLE then the byte XOR 0x20 (0x02 → 10 22, 0x03 → 10 23,
0x10 → 10 30). A receiver seeing STX therefore always knows a frame begins, and ETX that it ends; any other byte
after a DLE makes the frame invalid.

=======  =================  ===============  ==================================================================
Command  Direction          Payload          Meaning
=======  =================  ===============  ==================================================================
``N``    keypad → server    none             下一位: finish the current number and call the next.
``R``    keypad → server    none             重呼: call the current number again.
``S``    keypad → server    none             过号: the current number did not come (no-show).
``P``    keypad → server    none             暂停: pause the window, or resume it when paused (a toggle).
``T``    keypad → server    1 byte: window   转窗口: send the current number to window 1–32.
``A``    server → keypad    4 ASCII bytes    Acknowledge the press with the same address and seq; the payload is
                                             what the keypad shows: the number (``A012``), ``----`` when nobody
                                             is waiting or at the window, ``PAUS`` when paused, ``ERR `` when the
                                             press failed.
``K``    server → keypad    none             Reserved for a keepalive; not sent by this server, ignore it.
=======  =================  ===============  ==================================================================

The exchange: a keypad sends one frame per press and waits for the ``A`` frame with its address and seq. Without
one within 1 s (the server may be busy calling another window's number, or two keypads talked at once and both
frames were lost) it sends the very same frame again, same seq, up to 5 times, then shows ``ERR ``. The server
handles a press once: a repeated frame (same address, seq, command and payload) is answered with the reply it got
the first time, so one press never calls two numbers. Keypads ignore every frame that is not an ``A`` to their own
address (on a shared bus they hear the other keypads too). Frames with a wrong checksum or length, a bad escape or
no ETX are dropped without a reply; the sender's resend repairs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

STX, ETX, DLE = 0x02, 0x03, 0x10
STUFF_XOR = 0x20
SERVER_ADDRESS = 0
MAX_ADDRESS = 32
"""Window numbers 1–32 are keypad addresses."""
MAX_PAYLOAD = 255
DISPLAY_WIDTH = 4

KEYPAD_COMMANDS = frozenset("NRSPT")
"""Commands a keypad sends: next, recall, skip, pause toggle, transfer."""
ACK, KEEPALIVE = "A", "K"

_SPECIAL = frozenset({STX, ETX, DLE})
_HEADER = 4  # address, command, seq, length
_MAX_BODY = _HEADER + MAX_PAYLOAD + 1  # unstuffed bytes between STX and ETX


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc8(data: bytes) -> int:
    """CRC-8/MAXIM (poly 0x31, reflected, init 0): 1-Wire's CRC, which cheap keypad microcontrollers ship with."""
    crc = 0
    for byte in data:
        crc = _CRC_TABLE[crc ^ byte]
    return crc


@dataclass(frozen=True)
class Frame:
    """One decoded frame: `address` is the keypad's window (0: the server), `command` one ASCII letter."""

    address: int
    command: str
    seq: int
    payload: bytes = b""


def _stuff(body: bytes) -> bytes:
    out = bytearray()
    for byte in body:
        if byte in _SPECIAL:
            out += bytes((DLE, byte ^ STUFF_XOR))
        else:
            out.append(byte)
    return bytes(out)


def encode_frame(address: int, command: str, seq: int, payload: bytes = b"") -> bytes:
    """The bytes to send for one frame, stuffed and framed; ValueError for a field out of range."""
    if not 0 <= address <= 255:
        raise ValueError(f"address {address} is not a byte")
    if len(command) != 1 or not command.isascii():
        raise ValueError(f"command {command!r} is not one ASCII character")
    if not 0 <= seq <= 255:
        raise ValueError(f"seq {seq} is not a byte")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes is longer than {MAX_PAYLOAD}")
    body = bytes((address, ord(command), seq, len(payload))) + payload
    return bytes((STX,)) + _stuff(body + bytes((crc8(body),))) + bytes((ETX,))


def display_payload(text: str) -> bytes:
    """`text` as the 4 ASCII bytes a keypad shows: padded with spaces, the last 4 kept if longer (the digits)."""
    data = text.encode("ascii", errors="replace")
    return data.ljust(DISPLAY_WIDTH)[-DISPLAY_WIDTH:]


class FrameReader:
    """Turns the bytes of the bus, in chunks of any size, into frames; drops what is damaged, never raises.

    Bytes outside a frame are skipped (counted in `skipped`) until the next STX. A frame is rejected (counted in
    `rejected`) when its checksum is wrong, its length byte disagrees with its size, it holds a bad escape, it is too
    long to be a frame or a new STX arrives before its ETX.
    """

    def __init__(self) -> None:
        self.rejected = 0
        self.skipped = 0
        self._body: bytearray | None = None  # unstuffed bytes since STX; None while hunting for STX
        self._escape = False

    def reset(self) -> None:
        """Forget a half-received frame (the connection it came on is gone); not counted as rejected."""
        self._body, self._escape = None, False

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by `data`."""
        frames: list[Frame] = []
        for byte in data:
            if byte == STX:
                if self._body is not None:
                    self._reject("no ETX before the next STX")
                self._body, self._escape = bytearray(), False
            elif self._body is None:
                self.skipped += 1
            elif byte == ETX:
                frame = self._finish(bytes(self._body)) if not self._escape else self._reject("DLE before ETX")
                self._body = None
                if frame is not None:
                    frames.append(frame)
            elif self._escape:
                self._escape = False
                if byte ^ STUFF_XOR not in _SPECIAL:
                    self._reject(f"bad escape DLE {byte:#04x}")
                    self._body = None
                else:
                    self._append(byte ^ STUFF_XOR)
            elif byte == DLE:
                self._escape = True
            else:
                self._append(byte)
        return frames

    def _append(self, byte: int) -> None:
        assert self._body is not None
        if len(self._body) >= _MAX_BODY:  # a lost ETX: do not collect the bus forever
            self._reject("longer than any frame")
            self._body = None
        else:
            self._body.append(byte)

    def _finish(self, body: bytes) -> Frame | None:
        if len(body) < _HEADER + 1 or body[3] != len(body) - _HEADER - 1:
            return self._reject(f"length byte disagrees with the {len(body)} bytes received")
        if crc8(body[:-1]) != body[-1]:
            return self._reject("checksum mismatch")
        return Frame(address=body[0], command=chr(body[1]), seq=body[2], payload=body[_HEADER:-1])

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        self._escape = False
        log.debug("keypad frame rejected: %s", reason)
