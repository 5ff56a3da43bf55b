"""A receipt printer simulator on a pseudo-terminal, so the real serial code runs with no printer attached.

The worker opens `PrinterSimulator.port` with pyserial / python-escpos exactly as it would open /dev/ttyUSB0. The
simulator answers `DLE EOT` status requests at once, "prints" while online, and when a `GS ( H` process-ID request
arrives it files the document as `<out_dir>/<job id>.txt` and `.png`, then answers `37 22 d1..d4 00`. The four ID
bytes carry the job id (`devices.printer_protocol`, shared with the worker), which is how files get their names.

Faults behave like the hardware: out of paper or with the cover open the printer is offline, drops what it is sent
(a partly printed document is filed as `unnamed-<n>`) and never answers process-ID requests; `unplug()` closes the
pty like a pulled cable (the worker's reads and writes fail) and `replug()` makes a new one at a new path, which an
optional stable symlink (`link`) follows like a udev by-id name.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Self

from devices.printer_protocol import FIXED_STATUS_BITS, PrinterStatus, StatusKind, decode_job_id, process_id_response
from simulators.devices.escpos_decode import (
    Align,
    Cut,
    EscPosDecoder,
    Event,
    Image,
    Initialize,
    LineFeed,
    ProcessIdRequest,
    QrCode,
    StatusRequest,
    Style,
    Text,
)
from simulators.devices.pty_device import PtyDevice

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

logger = logging.getLogger(__name__)

DEFAULT_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
CELL = {0: (12, 30, 24), 1: (9, 21, 17)}
"""Per font: dots per half-width character, line pitch in dots (glyph plus spacing), glyph size in px."""
MARGIN_PX = 12


@dataclass(frozen=True)
class PrintedDocument:
    """A document the simulator printed and filed; `job_id` is None for one cut without a process-ID request."""

    job_id: int | None
    text: str
    png_path: Path
    txt_path: Path


@dataclass(frozen=True)
class _Line:
    segments: tuple[tuple[str, Style], ...]

    @property
    def chars(self) -> list[tuple[str, Style]]:
        return [(ch, style) for text, style in self.segments for ch in text]

    @property
    def align(self) -> Align:  # ESC a only counts at the start of a line
        return self.segments[0][1].align if self.segments else "left"


class _CutMark:
    """Where the paper was cut between two pieces filed as one job."""


_Block = _Line | QrCode | Image | _CutMark


@dataclass
class _Page:
    """The document being printed: finished blocks plus the line buffer that LF prints."""

    blocks: list[_Block] = field(default_factory=list)
    line: list[tuple[str, Style]] = field(default_factory=list)

    @property
    def has_content(self) -> bool:
        return bool(self.line) or any(not isinstance(b, _Line) or b.segments for b in self.blocks)

    def add(self, event: Event) -> None:
        if isinstance(event, Text):
            text = event.text
            if "\t" in text:  # tab stops every 8 columns, counted from the start of the line
                column = sum(_cells(ch) for before, _ in self.line for ch in before)
                text = (" " * column + text).expandtabs(8)[column:]
            self.line.append((text, event.style))
        elif isinstance(event, LineFeed):
            self.end_line(force=True)
        elif isinstance(event, QrCode | Image):
            self.end_line()
            self.blocks.append(event)

    def end_line(self, *, force: bool = False) -> None:
        if self.line or force:
            self.blocks.append(_Line(tuple(self.line)))
            self.line = []


def _cells(ch: str) -> int:
    """Half-width cells a character takes: Chinese printers print wide and ambiguous non-Latin ones 24 dots wide."""
    kind = unicodedata.east_asian_width(ch)
    return 2 if kind in ("W", "F") or (kind == "A" and ord(ch) > 0xFF) else 1


_Chars = list[tuple[str, Style]]


def _wrap(chars: _Chars, limit: int, measure: Callable[[str, Style], int]) -> list[_Chars]:
    """Break a line where the next character would not fit, as the printer does."""
    rows: list[_Chars] = [[]]
    used = 0
    for ch, style in chars:
        width = measure(ch, style)
        if rows[-1] and used + width > limit:
            rows.append([])
            used = 0
        rows[-1].append((ch, style))
        used += width
    return rows


def _pad(text: str, align: Align, columns: int) -> str:
    free = columns - sum(_cells(ch) for ch in text)
    if free <= 0 or align == "left":
        return text
    return " " * (free // 2 if align == "center" else free) + text


def render_text(blocks: list[_Block], columns: int) -> str:
    """The plain-text copy: lines as printed (wrapped at `columns`), centered/right lines padded, QR data shown."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, _Line):
            for row in _wrap(block.chars, columns, lambda ch, st: _cells(ch) * st.width):
                out.append(_pad("".join(ch for ch, _ in row), block.align, columns).rstrip())
        elif isinstance(block, QrCode):
            out.append(_pad(f"[QR] {block.data.decode('utf-8', errors='replace')}", block.align, columns))
        elif isinstance(block, Image):
            out.append(_pad(f"[图像 {block.width}x{block.height}]", block.align, columns))
        else:
            out.append("-" * columns)
    while out and not out[-1].strip():  # the feed before the cut is blank paper
        out.pop()
    return "\n".join(out) + "\n"


class _Renderer:
    """Draws documents like an 80 mm thermal roll: character cells of 12x24 dots, wqy-microhei glyphs."""

    def __init__(self, font_path: Path, width_px: int) -> None:
        self.font_path, self.width_px = font_path, width_px
        self._fonts: dict[int, object] = {}
        self._glyphs: dict[tuple[str, Style], PILImage] = {}

    def _font(self, size: int):
        from PIL import ImageFont

        if size not in self._fonts:
            try:
                self._fonts[size] = ImageFont.truetype(str(self.font_path), size)
            except OSError:
                logger.warning("font %s not found; Chinese will not render in the PNG copies", self.font_path)
                self._fonts[size] = ImageFont.load_default(size)
        return self._fonts[size]

    def glyph(self, ch: str, style: Style) -> PILImage:
        key = (ch, style)
        if key not in self._glyphs:
            from PIL import Image as PILImageModule
            from PIL import ImageDraw

            dots, pitch, size = CELL.get(style.font, CELL[0])
            font, stroke = self._font(size), 1 if style.bold else 0
            # Draw at the font's natural width; squeeze glyphs wider than the printer's cell (its ASCII font is
            # narrow), center the others in it.
            cell_width = dots * _cells(ch)
            drawn = PILImageModule.new("L", (max(int(font.getlength(ch)) + 2 * stroke, 1), pitch), 255)
            ImageDraw.Draw(drawn).text((stroke, 0), ch, font=font, fill=0, stroke_width=stroke, stroke_fill=0)
            if drawn.width > cell_width:
                cell = drawn.resize((cell_width, pitch), PILImageModule.Resampling.BILINEAR)
            else:
                cell = PILImageModule.new("L", (cell_width, pitch), 255)
                cell.paste(drawn, ((cell_width - drawn.width) // 2, 0))
            if style.underline:
                ImageDraw.Draw(cell).rectangle((0, size + 1, cell.width, size + style.underline), fill=0)
            size2 = (cell.width * style.width, pitch * style.height)  # the printer repeats dots
            self._glyphs[key] = cell.resize(size2, PILImageModule.Resampling.NEAREST)
        return self._glyphs[key]

    def _rows(self, block: _Block) -> list[tuple[PILImage, Align]]:
        from PIL import Image as PILImageModule
        from PIL import ImageDraw

        if isinstance(block, _Line):
            if not block.segments:
                return [(PILImageModule.new("L", (1, CELL[0][1]), 255), "left")]
            rows = []
            for row in _wrap(block.chars, self.width_px, lambda ch, st: self.glyph(ch, st).width):
                glyphs = [self.glyph(ch, st) for ch, st in row]
                image = PILImageModule.new("L", (sum(g.width for g in glyphs), max(g.height for g in glyphs)), 255)
                x = 0
                for g in glyphs:  # characters of different heights share the baseline (the bottom here)
                    image.paste(g, (x, image.height - g.height))
                    x += g.width
                rows.append((image, block.align))
            return rows
        if isinstance(block, QrCode):
            import qrcode

            code = qrcode.QRCode(box_size=max(block.size, 1), border=2)
            code.add_data(block.data)
            code.make(fit=True)
            return [(code.make_image().get_image().convert("L"), block.align)]
        if isinstance(block, Image):
            return [(block.to_pil().convert("L"), block.align)]
        mark = PILImageModule.new("L", (self.width_px, CELL[0][1]), 255)
        for x in range(0, self.width_px, 12):
            ImageDraw.Draw(mark).line((x, 15, x + 6, 15), fill=0)
        return [(mark, "left")]

    def render(self, blocks: list[_Block], path: Path) -> None:
        from PIL import Image as PILImageModule

        rows = [row for block in blocks for row in self._rows(block)]
        canvas = PILImageModule.new("L", (self.width_px, sum(r.height for r, _ in rows) + 2 * MARGIN_PX), 255)
        y = MARGIN_PX
        for image, align in rows:
            free = max(self.width_px - image.width, 0)
            canvas.paste(image, ({"left": 0, "center": free // 2, "right": free}[align], y))
            y += image.height
        canvas.save(path)


class PrinterSimulator(PtyDevice):
    """An ESC/POS receipt printer on a pty: status replies, printed documents filed as text and PNG, faults."""

    def __init__(
        self,
        out_dir: Path,
        *,
        name: str = "receipt",
        paper_width_chars: int = 48,
        paper_width_px: int = 576,
        font_path: Path = DEFAULT_FONT,
        link: Path | None = None,
    ) -> None:
        """`link`, if given, is a symlink kept pointing at the current port (it disappears while unplugged)."""
        super().__init__(link=link)
        self.out_dir, self.name, self.label = Path(out_dir), name, f"printer {name}"
        self.paper_width_chars = paper_width_chars
        self._renderer = _Renderer(font_path, paper_width_px)
        self._decoder = EscPosDecoder()
        self._page = _Page()
        self._cut: list[_Page] = []  # cut, waiting for the process-ID request that names them
        self._paper_out = self._near_end = self._cover_open = False
        self._next_unnamed = 1
        self.printed: list[PrintedDocument] = []

    # -- life cycle ----------------------------------------------------------------------------------------------
    def start(self) -> Self:
        """Create the output folder and plug the printer in."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        return super().start()

    def stop(self) -> None:
        """Unplug, and file whatever was cut but never named (or left half printed) as `unnamed-<n>`."""
        super().stop()
        with self._cond:
            self._file_unclaimed(include_current=True)

    @property
    def online(self) -> bool:
        """Whether the printer prints: paper loaded and cover closed."""
        return not (self._paper_out or self._cover_open)

    # -- faults --------------------------------------------------------------------------------------------------
    def paper_out(self) -> None:
        """The roll ran out: offline until `refill()`; a document being printed is left incomplete."""
        with self._cond:
            self._paper_out = True
            self._interrupt("paper out")

    def paper_near_end(self) -> None:
        """The near-end sensor trips: still online, `paper_status()` says 1."""
        with self._cond:
            self._near_end = True

    def refill(self) -> None:
        """A new roll: online again (if the cover is closed)."""
        with self._cond:
            self._paper_out = self._near_end = False

    def open_cover(self) -> None:
        """Cover open: offline until `close_cover()`; a document being printed is left incomplete."""
        with self._cond:
            self._cover_open = True
            self._interrupt("cover open")

    def close_cover(self) -> None:
        """Cover closed: online again (if there is paper)."""
        with self._cond:
            self._cover_open = False

    def wait_printed(self, job_id: int, timeout: float = 5.0) -> PrintedDocument:
        """The document printed for `job_id`, waiting up to `timeout` seconds (TimeoutError after)."""

        def find() -> PrintedDocument | None:
            return next((doc for doc in reversed(self.printed) if doc.job_id == job_id), None)

        with self._cond:
            if not self._cond.wait_for(lambda: find() is not None, timeout):
                raise TimeoutError(f"printer {self.name!r} printed no job {job_id} within {timeout}s")
            return find()  # type: ignore[return-value]

    # -- the device ------------------------------------------------------------------------------------------------
    def _received(self, data: bytes) -> bytes | None:
        answer = b""
        with self._cond:
            for event in self._decoder.feed(data):
                try:
                    answer += self._apply(event) or b""
                except Exception:  # one bad document must not kill the printer
                    logger.exception("printer %s: failed to handle %r", self.name, event)
        return answer or None

    def _unplugged(self) -> None:
        self._decoder.discard_partial()  # a half-sent command died with the transfer

    def status(self) -> PrinterStatus:
        """What the printer's status bytes say now."""
        near_end = self._near_end or self._paper_out  # an empty roll holder trips the near-end sensor too
        return PrinterStatus(
            online=self.online, cover_open=self._cover_open, paper_out=self._paper_out, paper_near_end=near_end
        )

    def _status_byte(self, n: int) -> int:
        try:
            kind = StatusKind(n)
        except ValueError:  # n = 3, the error cause: no errors here
            return FIXED_STATUS_BITS
        return self.status().status_byte(kind)

    def _apply(self, event: Event) -> bytes | None:
        """Act on one decoded event (under the lock); returns bytes to send back, if any."""
        if isinstance(event, StatusRequest):
            return bytes([self._status_byte(event.n)])
        if isinstance(event, Initialize):  # the line buffer is cleared; what was printed stays on the paper
            self._page.line = []
            self._file_unclaimed(include_current=True)
        elif not self.online:
            if isinstance(event, ProcessIdRequest):
                logger.info("printer %s offline: process-ID request %r not answered", self.name, event.ident)
        elif isinstance(event, Cut):
            self._page.end_line()
            if self._page.has_content:
                self._cut.append(self._page)
            self._page = _Page()
        elif isinstance(event, ProcessIdRequest):
            return self._process_id(event.ident)
        elif isinstance(event, Text | QrCode | Image | LineFeed):
            if self._cut and not isinstance(event, LineFeed):
                self._file_unclaimed(include_current=False)  # a new document began: the last one stays unnamed
            self._page.add(event)
        return None

    def _process_id(self, ident: bytes) -> bytes | None:
        try:
            job_id = decode_job_id(ident)
        except ValueError:
            logger.warning("printer %s: ignoring process-ID request with bytes %r", self.name, ident)
            return None
        self._page.end_line()
        pages = [*self._cut, self._page] if self._page.has_content else self._cut
        self._cut, self._page = [], _Page()
        if pages:
            self._file(pages, str(job_id), job_id)
        return process_id_response(ident)

    def _interrupt(self, reason: str) -> None:
        if self._page.has_content:
            logger.warning("printer %s: %s in the middle of a document; it is incomplete", self.name, reason)
            self._file_unclaimed(include_current=True)

    def _file_unclaimed(self, *, include_current: bool) -> None:
        if include_current:
            self._page.end_line()
        pages = [*self._cut, self._page] if include_current and self._page.has_content else self._cut
        if include_current:
            self._page = _Page()
        self._cut = []
        for page in pages:
            while (self.out_dir / f"unnamed-{self._next_unnamed}.txt").exists():
                self._next_unnamed += 1
            name = f"unnamed-{self._next_unnamed}"
            logger.warning("printer %s: a document without process-ID request is filed as %s", self.name, name)
            self._file([page], name, None)

    def _file(self, pages: list[_Page], stem: str, job_id: int | None) -> None:
        blocks: list[_Block] = []
        for page in pages:
            blocks += [_CutMark(), *page.blocks] if blocks else page.blocks
        txt_path, png_path = self.out_dir / f"{stem}.txt", self.out_dir / f"{stem}.png"
        text = render_text(blocks, self.paper_width_chars)
        # The picture first, the text last (by rename): whoever sees the .txt finds the .png beside it.
        self._renderer.render(blocks, png_path)
        partial = txt_path.with_suffix(".txt.part")
        partial.write_text(text, encoding="utf-8")
        partial.replace(txt_path)
        self.printed.append(PrintedDocument(job_id, text, png_path, txt_path))
        self._cond.notify_all()
        logger.info("printer %s printed %s", self.name, txt_path)
