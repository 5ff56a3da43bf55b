"""The ESC/POS decoder and the pty printer simulator, driven over real ptys by the worker's python-escpos printer
(`devices.printer_worker.EscposSerial`) with the bytes of `devices.printer_protocol`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import qrcode
import serial
from escpos.printer import Dummy
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from devices.printer_protocol import (
    MAX_JOB_ID,
    PrinterStatus,
    StatusKind,
    decode_job_id,
    encode_job_id,
    process_id_request,
    process_id_response,
    status_request,
)
from devices.printer_worker import EscposSerial
from devices.receipts import Page
from simulators.devices.escpos_decode import (
    Cut,
    EscPosDecoder,
    Image,
    Initialize,
    LineFeed,
    ProcessIdRequest,
    QrCode,
    StatusRequest,
    Text,
    Unknown,
)
from simulators.devices.printer import PrinterSimulator

CALL = "请 A012 号到 3 号窗口"
URL = "https://jiujin.example.cn/ticket/2025-01-02/A012"


def decode(data: bytes) -> list:
    decoder = EscPosDecoder()
    return decoder.feed(data) + decoder.flush()


def dummy(*steps) -> bytes:
    """Bytes python-escpos emits for `steps`: (method name, args, kwargs) on a Dummy printer."""
    printer = Dummy()
    for name, args, kwargs in steps:
        getattr(printer, name)(*args, **kwargs)
    return bytes(printer.output)


def process_id(job_id: int) -> bytes:
    return process_id_request(encode_job_id(job_id))


def job_bytes() -> bytes:
    """A queue ticket the way a worker sends one: init, Chinese mode, big centered number, text, QR, cut."""
    page = Page().text("A012", align="center", bold=True, big=True)
    return page.text(CALL).text("您前面还有 3 人").qr(URL).finish()


# -- decoder --------------------------------------------------------------------------------------------------------


def mixed_stream() -> bytes:
    return (
        job_bytes()
        + b"\x10\x04\x01"
        + dummy(("qr", ("hi",), {"native": False}))
        + b"\x1b!\x30\x1c&"
        + "𠮷A".encode("gb18030")
        + b"\x1dk\x02400638133393\x00\x1dk\x49\x05ABCDE"
        + process_id(123)
        + b"tail"
    )


def test_split_at_every_boundary_gives_the_same_events():
    stream = mixed_stream()
    whole = decode(stream)
    for cut in range(1, len(stream)):
        decoder = EscPosDecoder()
        assert decoder.feed(stream[:cut]) + decoder.feed(stream[cut:]) + decoder.flush() == whole, cut
    decoder = EscPosDecoder()
    assert [e for i in range(len(stream)) for e in decoder.feed(stream[i : i + 1])] + decoder.flush() == whole


def test_gb18030_text_in_chinese_mode():
    events = decode(b"\x1c&" + CALL.encode("gb18030") + b"\n")
    assert [e.text for e in events if isinstance(e, Text)] == [CALL]
    name = "张𠮷"  # 𠮷 takes four bytes in GB18030
    assert decode(b"\x1c&" + name.encode("gb18030") + b"\n")[0].text == name
    mojibake = "请".encode("gb18030").decode("cp437")  # mode off: one cp437 character per byte
    assert decode(b"\x1c&\x1c." + "请".encode("gb18030") + b"\n")[0].text == mojibake == "╟δ"


def test_python_escpos_set_output():
    big = dummy(("set", (), {"align": "center", "bold": True, "double_height": True, "double_width": True}))
    assert big == b"\x1b!\x00\x1b!\x00\x1b!\x30\x1bE\x01\x1ba\x01"
    [text, _] = decode(big + b"A012\n")
    assert (text.style.align, text.style.bold, text.style.width, text.style.height) == ("center", True, 2, 2)
    normal = dummy(("set", (), {"normal_textsize": True}))
    assert normal == b"\x1b!\x00\x1b!\x00\x1b!\x00"
    [text, _] = decode(big + normal + b"x\n")
    assert (text.style.align, text.style.bold, text.style.width, text.style.height) == ("center", False, 1, 1)
    custom = dummy(("set", (), {"custom_size": True, "width": 3, "height": 2, "underline": 1}))
    assert decode(custom + b"x\n")[0].style.width == 3
    assert decode(custom + b"x\n")[0].style.underline == 1


def test_esc_bang_sizes_only_alphanumerics_fs_bang_sizes_chinese():
    events = decode(b"\x1b!\x30\x1c&" + "请A".encode("gb18030") + b"\x1c!\x0c" + "请".encode("gb18030") + b"\n")
    sizes = [(e.text, e.style.width, e.style.height) for e in events if isinstance(e, Text)]
    assert sizes == [("请", 1, 1), ("A", 2, 2), ("请", 2, 2)]
    [text, _] = decode(b"\x1d!\x11\x1c&" + "请A".encode("gb18030") + b"\n")  # GS ! sizes both
    assert (text.text, text.style.width, text.style.height) == ("请A", 2, 2)


def test_python_escpos_native_qr():
    data = dummy(("qr", (URL,), {"native": True, "size": 6}))
    assert data.startswith(b"\x1d(k\x04\x001A2\x00\x1d(k\x03\x001C\x06\x1d(k\x03\x001E0\x1d(k")
    assert decode(b"\x1ba\x01" + data) == [QrCode(URL.encode(), 6, "center")]


def test_python_escpos_image_qr_decodes_to_the_same_bitmap():
    events = decode(dummy(("qr", (URL,), {"native": False})))
    [image] = [e for e in events if isinstance(e, Image)]
    code = qrcode.QRCode(box_size=3, border=1, error_correction=qrcode.constants.ERROR_CORRECT_L)
    code.add_data(URL)
    code.make(fit=True)
    expected = code.make_image().get_image().convert("1")
    decoded = image.to_pil().crop((0, 0, *expected.size))
    assert image.width == (expected.width + 7) // 8 * 8 and image.height == expected.height
    assert decoded.tobytes() == expected.tobytes()


def test_python_escpos_graphics_image():
    picture = PILImage.new("1", (10, 3), 0)
    [image] = [e for e in decode(dummy(("image", (picture,), {"impl": "graphics"}))) if isinstance(e, Image)]
    assert (image.width, image.height) == (10, 3)
    assert image.to_pil().getextrema() == (0, 0)  # all black


def test_python_escpos_cut():
    assert dummy(("cut", (), {})) == b"\x1bd\x06\x1dV\x00"
    assert decode(dummy(("cut", (), {}))) == [LineFeed()] * 6 + [Cut()]
    assert dummy(("cut", (), {"feed": False})) == b"\x1dVB\x00"
    assert decode(dummy(("cut", (), {"feed": False}))) == [Cut(partial=True)]


def test_requests_and_initialize():
    events = decode(b"\x1b@\x10\x04\x01\x10\x04\x04" + process_id(123))
    assert events == [Initialize(), StatusRequest(1), StatusRequest(4), ProcessIdRequest(encode_job_id(123))]


def test_skipped_commands_keep_the_stream_in_sync():
    commands = [
        b"\x1bt\x00", b"\x1bR\x0f", b"\x1dL\x00\x00", b"\x1dW\x40\x02", b"\x1b3\x1e", b"\x1b2",
        b"\x1cC\x01", b"\x1dh\x40", b"\x1dw\x03", b"\x1dH\x02", b"\x1df\x00", b"\x1dk\x024006381333931\x00",
        b"\x1dk\x49\x05ABCDE", b"\x1bp\x00\x32\x32", b"\x1bB\x02\x04", b"\x1b\x99",
    ]  # fmt: skip
    events = decode(b"\x1bM\x01" + b"".join(commands) + b"ok\n")
    assert [e.command for e in events if isinstance(e, Unknown)] == commands
    assert events[-2:] == [Text("ok", events[-2].style), LineFeed()]
    assert events[-2].style.font == 1  # ESC M 1 took effect


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.integers(min_value=1, max_value=199))
def test_garbage_never_raises_and_chunking_does_not_matter(data, cut):
    decoder = EscPosDecoder()
    assert decoder.feed(data[:cut]) + decoder.feed(data[cut:]) + decoder.flush() == decode(data)


# -- job ids --------------------------------------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=MAX_JOB_ID))
def test_job_id_round_trip(job_id):
    ident = encode_job_id(job_id)
    assert len(ident) == 4 and all(0x30 <= b <= 0x7E for b in ident)
    assert decode_job_id(ident) == job_id


def test_job_id_range():
    assert encode_job_id(0) == b"0000" and encode_job_id(MAX_JOB_ID) == b"~~~~" and MAX_JOB_ID == 79**4 - 1
    for bad in (-1, MAX_JOB_ID + 1):
        with pytest.raises(ValueError):
            encode_job_id(bad)
    for bad in (b"000", b"00000", b"000/", b"000\x7f"):
        with pytest.raises(ValueError):
            decode_job_id(bad)


# -- simulator ------------------------------------------------------------------------------------------------------


@pytest.fixture
def sim(tmp_path):
    simulator = PrinterSimulator(tmp_path / "printer", link=tmp_path / "receipt.tty")
    simulator.start()
    yield simulator
    simulator.stop()


def open_printer(port: str) -> EscposSerial:
    printer = EscposSerial(port, timeout=1, dsrdtr=False)
    printer.open()
    return printer


@pytest.fixture
def printer(sim):
    device = open_printer(sim.port)
    yield device
    device.close()  # a pulled cable's port too: closing it must not raise, now or when it is collected


def settle(printer: EscposSerial) -> None:
    """Wait until the simulator has handled everything sent so far: it answers in order."""
    printer.send(b"\x10\x04\x03")
    assert printer.receive(1) == b"\x12"


def test_status_through_python_escpos(sim, printer):
    assert printer.is_online() is True
    assert printer.paper_status() == 2


@pytest.mark.parametrize(
    ("fault", "online", "paper", "cause"),
    [
        (None, True, 2, 0x12),
        ("paper_near_end", True, 1, 0x12),
        ("paper_out", False, 0, 0x32),
        ("open_cover", False, 2, 0x16),
    ],
)
def test_status_in_each_state(sim, printer, fault, online, paper, cause):
    if fault:
        getattr(sim, fault)()
    assert printer.is_online() is online
    assert printer.paper_status() == paper
    assert printer.query_status(b"\x10\x04\x02") == bytes([cause])
    answers = [printer.query_status(status_request(kind))[0] for kind in StatusKind]
    assert PrinterStatus.from_bytes(*answers) == sim.status()  # the driver reads what the simulator says


def test_a_job_is_filed_when_the_process_id_request_arrives(sim, printer):
    printer.send(job_bytes())
    settle(printer)
    assert not list(sim.out_dir.iterdir())  # the cut alone does not finish a job
    printer.send(process_id(123))
    assert printer.receive(7) == process_id_response(encode_job_id(123))
    document = sim.wait_printed(123, timeout=1)
    text = (sim.out_dir / "123.txt").read_text(encoding="utf-8")
    assert document.text == text and document.txt_path == sim.out_dir / "123.txt"
    assert CALL in text.splitlines() and f"[QR] {URL}" in text
    assert " " * 22 + "A012" in text.splitlines()  # centered on 48 columns
    with PILImage.open(sim.out_dir / "123.png") as png:
        assert png.width == 576 and png.height > 200
        assert png.convert("L").getextrema()[0] < 64  # something black on it


def test_out_of_paper_nothing_printed_until_refilled(sim, printer):
    sim.paper_out()
    printer.send(job_bytes() + process_id(124))
    assert printer.receive(7) == b""  # no answer: the worker's read times out
    assert not list(sim.out_dir.iterdir()) and sim.printed == []
    sim.refill()
    printer.send(job_bytes() + process_id(124))
    assert printer.receive(7) == process_id_response(encode_job_id(124))
    assert CALL in sim.wait_printed(124, timeout=1).text


def test_paper_out_mid_document_files_the_torn_part_unnamed(sim, printer):
    printer.send(b"\x1b@\x1c&" + CALL.encode("gb18030") + b"\n")
    settle(printer)
    sim.paper_out()
    [torn] = sim.printed
    assert torn.job_id is None and torn.txt_path.name == "unnamed-1.txt" and CALL in torn.text


def test_a_cut_document_without_process_id_is_filed_unnamed_when_the_next_begins(sim, printer):
    printer.send(job_bytes() + job_bytes() + process_id(7))
    assert printer.receive(7) == b"\x37\x22" + encode_job_id(7) + b"\x00"
    assert [(d.job_id, d.txt_path.name) for d in sim.printed] == [(None, "unnamed-1.txt"), (7, "7.txt")]


def test_unplug_fails_the_worker_and_replug_moves_the_port(sim, printer):
    old_port = sim.port
    assert os.readlink(sim.link) == old_port
    sim.unplug()
    with pytest.raises(serial.SerialException):
        printer.send(b"x\n")
    with pytest.raises(RuntimeError):
        _ = sim.port
    new_port = sim.replug()
    assert new_port == sim.port == os.readlink(sim.link) and new_port != old_port
    again = open_printer(str(sim.link))
    try:
        again.send(job_bytes() + process_id(8))
        assert again.receive(7) == b"\x37\x22" + encode_job_id(8) + b"\x00"
    finally:
        again.close()


def test_stop_files_what_was_cut_but_never_named(tmp_path):
    simulator = PrinterSimulator(tmp_path).start()
    device = open_printer(simulator.port)
    device.send(job_bytes())
    settle(device)
    device.close()
    simulator.stop()
    assert [d.txt_path.name for d in simulator.printed] == ["unnamed-1.txt"]
    assert Path(tmp_path / "unnamed-1.png").exists()
