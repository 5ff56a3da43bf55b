"""The frame protocol of the hall's LED board controller (4 lines of 16 Chinese characters), on a serial line.

A frame, host → controller:

====== =========== ===========================================================================================
Offset Field       Value
====== =========== ===========================================================================================
0      STX         0x02
1      address     0x01 = the hall's board (frames for other addresses are ignored, no reply)
2      command     one ASCII byte, see below
3–4    length      payload length in bytes, big-endian, at most ``MAX_PAYLOAD`` (64)
5…     payload     ``length`` bytes
n−2    checksum    two's complement of the sum of address … payload, mod 256 (so those bytes plus it sum to 0)
n−1    ETX         0x03
====== =========== ===========================================================================================

Commands:

======= ============ ======================================================================================
Command Meaning      Payload
======= ============ ======================================================================================
``C``   clear        none; blanks all lines and stops flashing
``L``   set line     line number (1 byte, 1–4), then the text in GB18030/GB2312, at most ``LINE_BYTES`` (32):
                     a Chinese character takes 2 bytes and 2 columns, ASCII 1 and 1, so 16 Chinese characters
``F``   flash line   line number (1 byte, 1–4), seconds (1 byte; 0 stops)
``B``   brightness   level (1 byte, 0–15)
======= ============ ======================================================================================

Replies, controller → host, one byte per frame: ACK 0x06 (accepted and shown) or NAK 0x15 (bad checksum,
length or framing, unknown command, invalid payload). A frame cut short is NAK'd after ``INTER_BYTE_TIMEOUT_S``
of silence. The host sends the next frame only after the reply, resending on NAK or silence.

The checksum and the length are what let a receiver tell noise from frames: `FrameReader` hunts for STX, and
after a bad candidate resumes hunting at the byte after its STX, so a good frame that follows garbage (even
garbage containing STX) is still found.
"""

from __future__ import annotations

from dataclasses import dataclass

STX, ETX, ACK, NAK = 0x02, 0x03, 0x06, 0x15
BOARD_ADDRESS = 0x01
CLEAR, SET_LINE, FLASH, BRIGHTNESS = "C", "L", "F", "B"
COMMANDS = frozenset({CLEAR, SET_LINE, FLASH, BRIGHTNESS})
LINES = 4
LINE_BYTES = 32
"""Columns per line: 16 Chinese characters (2 bytes each in GB2312) or 32 ASCII ones."""
MAX_PAYLOAD = 64
"""The controller's receive buffer; a longer declared length is taken for noise."""
MAX_BRIGHTNESS = 15
INTER_BYTE_TIMEOUT_S = 0.2
"""Silence after which the controller drops (and NAKs) a frame it has only partly received."""
ENCODING = "gb18030"
_HEADER = 5  # STX, address, command, length (2)


@dataclass(frozen=True)
class Frame:
    """A frame that arrived whole, with a correct checksum."""

    address: int
    command: str
    payload: bytes


@dataclass(frozen=True)
class BadFrame:
    """A candidate frame that was rejected: reason is "length", "framing", "checksum" or "timeout"."""

    reason: str
    data: bytes
    nested: bool = False
    """It began inside an earlier rejected candidate (an STX in its payload): answer only the outer one, so one
    garbled frame costs the sender one NAK."""


def checksum(body: bytes) -> int:
    """The byte that makes ``body`` (address … payload) plus itself sum to 0 mod 256."""
    return -sum(body) & 0xFF


def encode(command: str, payload: bytes = b"", *, address: int = BOARD_ADDRESS) -> bytes:
    """One frame: ``encode("L", b"\\x01...")``."""
    cmd = command.encode("ascii")
    if len(cmd) != 1:
        raise ValueError(f"a command is one ASCII byte, not {command!r}")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = bytes([address]) + cmd + len(payload).to_bytes(2, "big") + payload
    return bytes([STX]) + body + bytes([checksum(body), ETX])


def encode_text(text: str) -> bytes:
    """Text as the board takes it (GB18030; its font has the GB2312 characters)."""
    return text.encode(ENCODING, errors="replace")


def width(text: str) -> int:
    """Columns ``text`` takes on the board: its length in GB bytes."""
    return len(encode_text(text))


def fit(text: str, columns: int = LINE_BYTES) -> str:
    """``text`` cut to ``columns``, never inside a character."""
    out, used = [], 0
    for ch in text:
        used += width(ch)
        if used > columns:
            break
        out.append(ch)
    return "".join(out)


def clear(*, address: int = BOARD_ADDRESS) -> bytes:
    """Blank every line and stop flashing."""
    return encode(CLEAR, address=address)


def set_line(line: int, text: str, *, address: int = BOARD_ADDRESS) -> bytes:
    """Show ``text`` (cut to the line's width) on ``line`` (1–4)."""
    _check_line(line)
    return encode(SET_LINE, bytes([line]) + encode_text(fit(text)), address=address)


def flash(line: int, seconds: int, *, address: int = BOARD_ADDRESS) -> bytes:
    """Flash ``line`` for ``seconds`` (0–255; 0 stops)."""
    _check_line(line)
    return encode(FLASH, bytes([line, max(0, min(255, seconds))]), address=address)


def brightness(level: int, *, address: int = BOARD_ADDRESS) -> bytes:
    """Set the brightness, 0 (dimmest) to 15."""
    if not 0 <= level <= MAX_BRIGHTNESS:
        raise ValueError(f"brightness is 0–{MAX_BRIGHTNESS}, not {level}")
    return encode(BRIGHTNESS, bytes([level]), address=address)


def _check_line(line: int) -> None:
    if not 1 <= line <= LINES:
        raise ValueError(f"the board has lines 1–{LINES}, not {line}")


class FrameReader:
    """Incremental frame parser for the receiving end: bytes in any chunks, frames and rejects out; never raises.

    Bytes before an STX are skipped silently (line noise); a candidate with a too-long length, no ETX where it
    should be, or a wrong checksum is reported as a `BadFrame` and hunting resumes right after its STX.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._shadow = 0  # bytes at the buffer's start that were inside the last rejected candidate
        self.skipped = 0
        """Bytes of noise dropped outside any frame."""

    @property
    def pending(self) -> bool:
        """Whether part of a frame is waiting for the rest."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> list[Frame | BadFrame]:
        """The frames and rejects completed by ``data``, in order; a partial frame waits for the next call."""
        self._buffer += data
        out: list[Frame | BadFrame] = []
        while True:
            start = self._buffer.find(STX)
            if start < 0:
                self.skipped += len(self._buffer)
                self._drop(len(self._buffer))
                return out
            if start:
                self.skipped += start
                self._drop(start)
            if len(self._buffer) < _HEADER:
                return out
            length = int.from_bytes(self._buffer[3:5], "big")
            if length > MAX_PAYLOAD:
                out.append(self._reject("length", _HEADER))
                continue
            total = _HEADER + length + 2
            if len(self._buffer) < total:
                return out
            if self._buffer[total - 1] != ETX:
                out.append(self._reject("framing", total))
            elif sum(self._buffer[1 : total - 1]) & 0xFF:
                out.append(self._reject("checksum", total))
            else:
                frame = bytes(self._buffer[:total])
                self._drop(total)
                out.append(Frame(frame[1], chr(frame[2]), frame[_HEADER:-2]))

    def expire(self) -> list[Frame | BadFrame]:
        """The line went quiet mid-frame: reject the partial frame and look for frames in what followed its STX."""
        if not self._buffer:
            return []
        rejected = self._reject("timeout", len(self._buffer))
        return [rejected, *self.feed(b"")]

    def reset(self) -> None:
        """Forget a partial frame (the cable was pulled)."""
        self._buffer.clear()
        self._shadow = 0

    def _drop(self, count: int) -> None:
        del self._buffer[:count]
        self._shadow = max(0, self._shadow - count)

    def _reject(self, reason: str, size: int) -> BadFrame:
        bad = BadFrame(reason, bytes(self._buffer[:size]), nested=self._shadow > 0)
        self._shadow = max(self._shadow, size)
        self._drop(1)  # resume after this STX: a real frame may start inside the bad one
        return bad
