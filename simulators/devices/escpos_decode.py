"""Incremental decoder for the ESC/POS subset a receipt printer sees on its serial line.

Bytes arrive in arbitrary chunks, so the decoder keeps whatever does not yet form a whole command and waits for
the rest; feeding a stream byte by byte yields the same events as feeding it at once. Printable bytes are held
until a control byte ends the run (a printer also prints a line only when it is complete), which keeps GB18030
multibyte characters whole across chunk boundaries. Garbage never raises: unknown commands are skipped with their
documented parameter lengths and reported as `Unknown`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

logger = logging.getLogger(__name__)

Align = Literal["left", "center", "right"]

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10
LF, CR, HT, EOT = 0x0A, 0x0D, 0x09, 0x04

#: Refuse raster payloads above this size: a corrupt header would otherwise swallow the rest of the stream.
MAX_PAYLOAD = 1 << 20

_ALIGNS: tuple[Align, ...] = ("left", "center", "right")

#: `ESC t n` code tables we can decode; anything else falls back to cp437, the printer's power-on table.
_CODEPAGES = {0: "cp437", 2: "cp850", 3: "cp860", 4: "cp863", 5: "cp865", 16: "cp1252", 17: "cp866", 19: "cp858"}

# Parameter byte counts of fixed-length commands we only skip (Epson ESC/POS reference).
_ESC_SKIP = {
    0x20: 1, 0x24: 2, 0x25: 1, 0x32: 0, 0x33: 1, 0x3C: 0, 0x3D: 1, 0x3F: 1, 0x42: 2, 0x47: 1, 0x4C: 0, 0x4D: 1,
    0x52: 1, 0x53: 0, 0x54: 1, 0x55: 1, 0x56: 1, 0x57: 8, 0x5C: 2, 0x63: 2, 0x65: 1, 0x70: 3, 0x72: 1, 0x74: 1,
    0x75: 1, 0x76: 0, 0x7B: 1,
}  # fmt: skip
_GS_SKIP = {
    0x24: 2, 0x2F: 1, 0x3A: 0, 0x42: 1, 0x48: 1, 0x49: 1, 0x4C: 2, 0x50: 2, 0x54: 1, 0x57: 2, 0x5C: 2, 0x5E: 3,
    0x61: 1, 0x62: 1, 0x63: 0, 0x66: 1, 0x68: 1, 0x72: 1, 0x77: 1,
}  # fmt: skip
_FS_SKIP = {0x32: 74, 0x3F: 2, 0x43: 1, 0x53: 2, 0x70: 2}
_ASCII_RUNS = re.compile(r"[\x00-\x7f]+|[^\x00-\x7f]+")
_DLE_DC4_SKIP = {1: 2, 2: 2, 7: 1, 8: 7}


@dataclass(frozen=True)
class Style:
    """Character formatting in effect when text is printed."""

    align: Align = "left"
    """Line alignment (`ESC a`); a printer applies it to whole lines."""
    bold: bool = False
    """Emphasized mode (`ESC E`, bit 3 of `ESC !`)."""
    underline: int = 0
    """Underline thickness in dots, 0-2 (`ESC -`, bit 7 of `ESC !`)."""
    width: int = 1
    """Character width multiplier 1-8 (`GS !` high nibble; `ESC !` bit 5 gives 2)."""
    height: int = 1
    """Character height multiplier 1-8 (`GS !` low nibble; `ESC !` bit 4 gives 2)."""
    font: int = 0
    """Font A (0, 12x24 dots) or B (1) (`ESC M`, bit 0 of `ESC !`)."""

    @property
    def double_width(self) -> bool:
        """Whether characters are at least twice as wide as normal."""
        return self.width >= 2

    @property
    def double_height(self) -> bool:
        """Whether characters are at least twice as tall as normal."""
        return self.height >= 2


@dataclass(frozen=True)
class Text:
    """A run of printable characters, decoded, with the style it is printed in."""

    text: str
    style: Style


@dataclass(frozen=True)
class LineFeed:
    """End of a printed line (LF, `ESC d n` gives n of them, `ESC J` one)."""


@dataclass(frozen=True)
class StatusRequest:
    """Real-time status request `DLE EOT n`: 1 printer, 2 offline cause, 3 error cause, 4 paper sensor."""

    n: int


@dataclass(frozen=True)
class ProcessIdRequest:
    """`GS ( H` process-ID request: answer `37 22 d1..d4 00` once everything before it has printed."""

    ident: bytes


@dataclass(frozen=True)
class Cut:
    """Paper cut (`GS V`, `ESC i`, `ESC m`): the end of a printed document."""

    partial: bool = False


@dataclass(frozen=True)
class QrCode:
    """A QR code printed by the printer itself (`GS ( k`, store then print)."""

    data: bytes
    size: int = 3
    """Module size in dots (function 167)."""
    align: Align = "left"
    """Alignment (`ESC a`) when it was printed: printers position symbols by it too."""


@dataclass(frozen=True)
class Image:
    """A raster image (`GS v 0`, or `GS ( L` graphics): rows of `ceil(width/8)` bytes, MSB first, 1 = black."""

    width: int
    height: int
    bits: bytes
    align: Align = "left"
    """Alignment (`ESC a`) when it was printed."""

    def to_pil(self) -> PILImage:
        """The image as a 1-bit PIL image (black where a bit is set)."""
        from PIL import Image as PILImageModule  # Pillow is only needed by whoever renders

        row = (self.width + 7) // 8
        data = self.bits.ljust(row * self.height, b"\x00")[: row * self.height]
        padded = PILImageModule.frombytes("1", (row * 8, self.height), data, "raw", "1;I")
        return padded.crop((0, 0, self.width, self.height))


@dataclass(frozen=True)
class Initialize:
    """`ESC @`: styles, Chinese mode and code table back to their power-on values."""


@dataclass(frozen=True)
class Unknown:
    """A command the printer model ignores (or we do not simulate), skipped whole to stay in sync."""

    command: bytes


Event = Text | LineFeed | StatusRequest | ProcessIdRequest | Cut | QrCode | Image | Initialize | Unknown


@dataclass(frozen=True)
class _Kanji:
    """Chinese character size and underline: `ESC !` sizes only alphanumerics, `FS !`/`FS W` only these."""

    width: int = 1
    height: int = 1
    underline: int = 0


def _u16(buf: bytearray, pos: int) -> int:
    return buf[pos] | buf[pos + 1] << 8


class EscPosDecoder:
    """Turns a receipt printer's byte stream, fed in arbitrary chunks, into events."""

    def __init__(self, *, chinese: bool = False) -> None:
        """`chinese` is the power-on state of the Chinese (GB18030) character mode, which `ESC @` restores."""
        self._chinese_default = chinese
        self._buf = bytearray()
        self._text = bytearray()
        self._reset()

    def _reset(self) -> None:
        self.style = Style()
        self.kanji = _Kanji()
        self.chinese = self._chinese_default
        self.codepage = "cp437"
        self._qr_data: bytes | None = None
        self._qr_size = 3
        self._graphics: Image | None = None

    def feed(self, data: bytes) -> list[Event]:
        """Decode the next chunk; an incomplete trailing command waits for the next call."""
        self._buf += data
        buf, pos, events = self._buf, 0, []
        while pos < len(buf):
            b = buf[pos]
            if b >= 0x20 or b == HT:
                end = pos + 1
                while end < len(buf) and (buf[end] >= 0x20 or buf[end] == HT):
                    end += 1
                self._text += buf[pos:end]
                pos = end
                continue
            self._flush_text(events)
            used = self._command(buf, pos, events)
            if used == 0:
                break
            pos += used
        del buf[:pos]
        return events

    def discard_partial(self) -> None:
        """Forget an incomplete command (its transfer was cut off); held text stays in the line buffer."""
        self._buf.clear()

    def flush(self) -> list[Event]:
        """Text held back waiting for a control byte, as an event (for tests and end of stream)."""
        events: list[Event] = []
        self._flush_text(events)
        return events

    def _flush_text(self, events: list[Event]) -> None:
        if not self._text:
            return
        if not self.chinese:
            events.append(Text(bytes(self._text).decode(self.codepage, errors="replace"), self.style))
        else:
            # Single bytes print in the alphanumeric font, multibyte characters in the Chinese one, sized apart.
            text = bytes(self._text).decode("gb18030", errors="replace")
            kanji = replace(self.style, font=0, width=self.kanji.width, height=self.kanji.height)
            kanji = replace(kanji, underline=self.kanji.underline)
            runs = [Text(run, self.style if run[0] < "\x80" else kanji) for run in _ASCII_RUNS.findall(text)]
            merged = runs[:1]
            for run in runs[1:]:
                if run.style == merged[-1].style:
                    merged[-1] = Text(merged[-1].text + run.text, run.style)
                else:
                    merged.append(run)
            events.extend(merged)
        self._text.clear()

    def _command(self, buf: bytearray, pos: int, events: list[Event]) -> int:
        """Handle the control sequence at `pos`; returns bytes consumed, or 0 when more bytes are needed."""
        b = buf[pos]
        if b == LF:
            events.append(LineFeed())
            return 1
        if b == CR:  # serial printers ignore CR unless auto line feed is on; python-escpos never relies on it
            return 1
        if b not in (ESC, GS, FS, DLE):
            events.append(Unknown(bytes([b])))
            return 1
        if pos + 1 >= len(buf):
            return 0
        handler = {ESC: self._esc, GS: self._gs, FS: self._fs, DLE: self._dle}[b]
        return handler(buf, pos, buf[pos + 1], events)

    def _skip(self, buf: bytearray, pos: int, length: int, events: list[Event]) -> int:
        """Report `length` bytes at `pos` as one unknown command, once they have all arrived."""
        if pos + length > len(buf):
            return 0
        events.append(Unknown(bytes(buf[pos : pos + length])))
        return length

    def _esc(self, buf: bytearray, pos: int, cmd: int, events: list[Event]) -> int:
        if cmd == 0x40:  # ESC @
            self._reset()
            events.append(Initialize())
            return 2
        if cmd in (0x69, 0x6D):  # ESC i / ESC m: partial cut (legacy)
            events.append(Cut(partial=True))
            return 2
        if cmd == 0x2A:  # ESC * m nL nH d1..dk: column bit image
            if pos + 5 > len(buf):
                return 0
            dots = _u16(buf, pos + 3)
            return self._skip(buf, pos, 5 + dots * (3 if buf[pos + 2] in (32, 33) else 1), events)
        if cmd == 0x44:  # ESC D n1..nk NUL: tab positions, at most 32
            end = buf.find(0, pos + 2, pos + 35)
            if end < 0:
                return 0 if len(buf) < pos + 35 else self._skip(buf, pos, 2, events)
            return self._skip(buf, pos, end + 1 - pos, events)
        if cmd == 0x26:  # ESC & y c1 c2 [x d1..d(y*x)]...: user-defined characters
            return self._esc_user_chars(buf, pos, events)
        if cmd not in (0x21, 0x2D, 0x45, 0x4A, 0x61, 0x64) and cmd not in _ESC_SKIP:
            events.append(Unknown(bytes(buf[pos : pos + 2])))
            return 2
        params = _ESC_SKIP.get(cmd, 1)
        if pos + 2 + params > len(buf):
            return 0
        n = buf[pos + 2] if params else 0
        if cmd == 0x21:  # ESC ! n: font, emphasized, double height/width, underline at once
            self.style = replace(
                self.style,
                font=n & 1,
                bold=bool(n & 0x08),
                height=2 if n & 0x10 else 1,
                width=2 if n & 0x20 else 1,
                underline=1 if n & 0x80 else 0,
            )
        elif cmd == 0x2D:
            self.style = replace(self.style, underline=min(n & 0x0F, 2) if n < 48 else min(n - 48, 2))
        elif cmd == 0x45:
            self.style = replace(self.style, bold=bool(n & 1))
        elif cmd == 0x61:
            self.style = replace(self.style, align=_ALIGNS[(n - 48 if n >= 48 else n) % 3])
        elif cmd == 0x4D:
            self.style = replace(self.style, font=n & 1)
        elif cmd == 0x4A:  # ESC J n: print and feed n dots, one line ends
            events.append(LineFeed())
        elif cmd == 0x64:  # ESC d n: print and feed n lines
            events.extend(LineFeed() for _ in range(n))
        else:
            if cmd == 0x74:
                self.codepage = _CODEPAGES.get(n, "cp437")
            events.append(Unknown(bytes(buf[pos : pos + 2 + params])))
        return 2 + params

    def _esc_user_chars(self, buf: bytearray, pos: int, events: list[Event]) -> int:
        if pos + 5 > len(buf):
            return 0
        y, c1, c2 = buf[pos + 2], buf[pos + 3], buf[pos + 4]
        end = pos + 5
        for _ in range(max(c2 - c1 + 1, 0)):
            if end >= len(buf):
                return 0
            end += 1 + y * buf[end]
        return self._skip(buf, pos, end - pos, events)

    def _gs(self, buf: bytearray, pos: int, cmd: int, events: list[Event]) -> int:
        if cmd == 0x21:  # GS ! n: width (high nibble) and height (low nibble) multipliers
            if pos + 3 > len(buf):
                return 0
            n = buf[pos + 2]
            self.style = replace(self.style, width=(n >> 4 & 7) + 1, height=(n & 7) + 1)
            self.kanji = replace(self.kanji, width=self.style.width, height=self.style.height)
            return 3
        if cmd == 0x56:  # GS V m [n]
            if pos + 3 > len(buf):
                return 0
            m = buf[pos + 2]
            if m in (0, 1, 48, 49):
                events.append(Cut(partial=m in (1, 49)))
                return 3
            if m in (65, 66, 97, 98, 103, 104):
                if pos + 4 > len(buf):
                    return 0
                events.append(Cut(partial=m in (66, 98, 104)))
                return 4
            return self._skip(buf, pos, 3, events)
        if cmd == 0x76:  # GS v 0 m xL xH yL yH d1..dk: raster bit image
            return self._raster(buf, pos, events)
        if cmd == 0x28:  # GS ( x pL pH d1..d(pL+256pH)
            if pos + 5 > len(buf):
                return 0
            length = 5 + _u16(buf, pos + 3)
            if pos + length > len(buf):
                return 0
            self._gs_paren(buf[pos + 2], bytes(buf[pos + 5 : pos + length]), bytes(buf[pos : pos + length]), events)
            return length
        if cmd == 0x38:  # GS 8 x p1..p4 data: the long form of GS ( x
            if pos + 7 > len(buf):
                return 0
            length = int.from_bytes(buf[pos + 3 : pos + 7], "little")
            return self._skip(buf, pos, 7 + length if length <= MAX_PAYLOAD else 7, events)
        if cmd == 0x6B:  # GS k: barcode
            return self._barcode(buf, pos, events)
        if cmd == 0x2A:  # GS * x y d1..d(x*y*8): define downloaded bit image
            if pos + 4 > len(buf):
                return 0
            return self._skip(buf, pos, 4 + buf[pos + 2] * buf[pos + 3] * 8, events)
        return self._skip(buf, pos, 2 + _GS_SKIP.get(cmd, 0), events)

    def _raster(self, buf: bytearray, pos: int, events: list[Event]) -> int:
        if pos + 8 > len(buf):
            return 0
        if buf[pos + 2] not in (0x30, 0x00):
            return self._skip(buf, pos, 3, events)
        row, height = _u16(buf, pos + 4), _u16(buf, pos + 6)
        size = row * height
        if size > MAX_PAYLOAD:
            return self._skip(buf, pos, 8, events)
        if pos + 8 + size > len(buf):
            return 0
        events.append(Image(row * 8, height, bytes(buf[pos + 8 : pos + 8 + size]), self.style.align))
        return 8 + size

    def _gs_paren(self, kind: int, payload: bytes, whole: bytes, events: list[Event]) -> None:
        if kind == 0x48 and len(payload) == 6 and payload[:2] == b"00":  # GS ( H fn=48 m=48: process ID
            events.append(ProcessIdRequest(payload[2:6]))
        elif kind == 0x6B and len(payload) >= 2 and payload[0] == 0x31:  # GS ( k cn=49: QR code
            self._qr(payload[1], payload[2:], whole, events)
        elif kind == 0x4C and len(payload) >= 2 and payload[0] == 0x30:  # GS ( L m=48: graphics
            self._graphics_cmd(payload[1], payload[2:], whole, events)
        else:
            events.append(Unknown(whole))

    def _qr(self, fn: int, params: bytes, whole: bytes, events: list[Event]) -> None:
        if fn in (65, 69):  # functions 165 (model) and 169 (error correction): no effect on what we record
            return
        if fn == 67 and params:  # function 167: module size
            self._qr_size = params[0]
        elif fn == 80 and params:  # function 180: store data (after m = 48)
            self._qr_data = params[1:]
        elif fn == 81 and self._qr_data is not None:  # function 181: print the stored symbol
            events.append(QrCode(self._qr_data, self._qr_size, self.style.align))
        else:
            events.append(Unknown(whole))

    def _graphics_cmd(self, fn: int, params: bytes, whole: bytes, events: list[Event]) -> None:
        # fn 112 stores a raster (a bx by c xL xH yL yH data); fn 2/50 prints it (python-escpos impl="graphics").
        if fn == 0x70 and len(params) >= 8:
            width, height = params[4] | params[5] << 8, params[6] | params[7] << 8
            self._graphics = Image(width, height, params[8:])
        elif fn in (2, 50) and self._graphics is not None:
            events.append(replace(self._graphics, align=self.style.align))
            self._graphics = None
        else:
            events.append(Unknown(whole))

    def _barcode(self, buf: bytearray, pos: int, events: list[Event]) -> int:
        if pos + 3 > len(buf):
            return 0
        m = buf[pos + 2]
        if m <= 6:  # GS k m d1..dk NUL
            end = buf.find(0, pos + 3, pos + 259)
            if end < 0:
                return 0 if len(buf) < pos + 259 else self._skip(buf, pos, 3, events)
            return self._skip(buf, pos, end + 1 - pos, events)
        if pos + 4 > len(buf):
            return 0
        return self._skip(buf, pos, 4 + buf[pos + 3], events)  # GS k m n d1..dn

    def _fs(self, buf: bytearray, pos: int, cmd: int, events: list[Event]) -> int:
        if cmd in (0x26, 0x2E):  # FS & / FS .: Chinese (GB18030) character mode on / off
            self.chinese = cmd == 0x26
            return 2
        if cmd in (0x21, 0x2D, 0x57):  # FS ! n, FS - n, FS W n: Chinese character size and underline
            if pos + 3 > len(buf):
                return 0
            n = buf[pos + 2]
            if cmd == 0x21:
                self.kanji = _Kanji(2 if n & 0x04 else 1, 2 if n & 0x08 else 1, 1 if n & 0x80 else 0)
            elif cmd == 0x2D:
                self.kanji = replace(self.kanji, underline=min(n - 48 if n >= 48 else n, 2))
            else:
                self.kanji = replace(self.kanji, width=2 if n & 1 else 1, height=2 if n & 1 else 1)
            return 3
        if cmd == 0x28:  # FS ( x pL pH data
            if pos + 5 > len(buf):
                return 0
            return self._skip(buf, pos, 5 + _u16(buf, pos + 3), events)
        return self._skip(buf, pos, 2 + _FS_SKIP.get(cmd, 0), events)

    def _dle(self, buf: bytearray, pos: int, cmd: int, events: list[Event]) -> int:
        if cmd == EOT:  # DLE EOT n (n 7 and 8 take one more byte)
            if pos + 3 > len(buf):
                return 0
            n = buf[pos + 2]
            if 1 <= n <= 4:
                events.append(StatusRequest(n))
                return 3
            return self._skip(buf, pos, 4 if n in (7, 8) else 3, events)
        if cmd == 0x05:  # DLE ENQ n
            return self._skip(buf, pos, 3, events)
        if cmd == 0x14:  # DLE DC4 fn ...
            if pos + 3 > len(buf):
                return 0
            return self._skip(buf, pos, 3 + _DLE_DC4_SKIP.get(buf[pos + 2], 0), events)
        events.append(Unknown(bytes([DLE])))
        return 1
