"""The LED board: its frame protocol (round trip, fuzz), the lines it shows, resends and reconnects, over real ptys."""

from __future__ import annotations

import threading

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import led_protocol as proto
from devices.led_board import LedBoard, board_lines
from devices.led_protocol import BadFrame, Frame, FrameReader
from devices.queue_events import Board, QueueEvent
from simulators.devices.led_board import LedBoardSimulator

BOARD = Board(
    calling=[
        {"window": 1, "number": "A010"},
        {"window": 2, "number": "V003"},
        {"window": 3, "number": "A012"},
        {"window": 4, "number": "A011"},
    ],
    next={"A": ["A013"], "V": ["V004"]},
    waiting={"A": 5, "V": 1},
)
EXPECTED = ["请 A012 到 3号窗口", "A010→1 V003→2 A011→4", "", "等候 A:5 V:1"]


def event(kind: str = "called", number: str | None = "A012", window: int | None = 3, *, id: int = 1, board=BOARD):
    return QueueEvent(id=id, kind=kind, number=number, window=window, board=board)


def read_all(data: bytes, chunks: list[int] | None = None) -> list[Frame | BadFrame]:
    reader, out, at = FrameReader(), [], 0
    for size in chunks or []:
        out += reader.feed(data[at : at + size])
        at += size
    return out + reader.feed(data[at:]) + reader.expire()


@pytest.fixture
def sim(tmp_path):
    with LedBoardSimulator(link=tmp_path / "led", out_file=tmp_path / "led-board.txt") as sim:
        yield sim


@pytest.fixture
def board(sim, tmp_path):
    with LedBoard(str(tmp_path / "led"), timeout_s=0.3, retries=3) as board:
        yield board


# -- protocol -------------------------------------------------------------------------------------------------------


def test_a_frame_is_laid_out_as_documented():
    frame = proto.set_line(1, "请A")
    text = "请A".encode("gb2312")
    assert frame[:5] == bytes([0x02, 0x01, ord("L"), 0x00, 1 + len(text)])
    assert frame[5:-2] == b"\x01" + text
    assert sum(frame[1:-1]) % 256 == 0 and frame[-1] == 0x03
    assert proto.clear() == bytes([0x02, 0x01, ord("C"), 0, 0, (-(0x01 + ord("C"))) & 0xFF, 0x03])


frames = st.builds(
    lambda cmd, payload: (cmd, payload),
    st.sampled_from(sorted(proto.COMMANDS)),
    st.binary(max_size=proto.MAX_PAYLOAD),
)


@given(st.lists(frames, max_size=6), st.lists(st.integers(1, 20), max_size=30))
def test_frames_round_trip_in_any_chunks(sent, chunks):
    data = b"".join(proto.encode(cmd, payload) for cmd, payload in sent)
    assert read_all(data, chunks) == [Frame(proto.BOARD_ADDRESS, cmd, payload) for cmd, payload in sent]


@settings(max_examples=300)
@given(st.binary(max_size=300), st.lists(st.integers(1, 50), max_size=20))
def test_the_reader_never_raises_on_noise(noise, chunks):
    for result in read_all(noise, chunks):
        assert isinstance(result, Frame | BadFrame)


@settings(max_examples=300)
@given(st.binary(max_size=100), frames, st.binary(max_size=100).filter(lambda b: proto.STX not in b))
def test_a_frame_after_noise_is_found(before, frame, after):
    """Noise before a frame, even noise with STX and false lengths in it, costs rejects but not the frame."""
    cmd, payload = frame
    results = read_all(before + proto.encode(cmd, payload) + after)
    assert Frame(proto.BOARD_ADDRESS, cmd, payload) in results


def test_bad_frames_are_rejected_with_their_reason():
    good = proto.set_line(2, "等候 A:5")
    bad_sum = good[:-2] + bytes([good[-2] ^ 0xFF]) + good[-1:]
    no_etx = good[:-1] + b"\x00"
    too_long = bytes([0x02, 0x01, ord("L"), 0x01, 0x00])
    assert good[5] == proto.STX  # line 2: an STX inside the payload, where hunting resumes after a reject

    def rejects(data: bytes) -> list[str]:
        return [r.reason for r in read_all(data) if isinstance(r, BadFrame) and not r.nested]

    assert rejects(bad_sum) == ["checksum"]  # one answer per garbled frame, not one per STX inside it
    assert rejects(no_etx) == ["framing"]
    assert rejects(too_long) == ["length"]
    assert rejects(good[:7]) == ["timeout"]
    assert rejects(bad_sum + good) == ["checksum"] and read_all(bad_sum + good)[-1] == read_all(good)[0]


def test_text_is_cut_to_the_line_never_inside_a_character():
    assert proto.width("请A") == 3
    assert proto.fit("一二三四五六七八九十一二三四五六七") == "一二三四五六七八九十一二三四五六"  # 16 characters
    assert proto.fit("A" + "汉" * 16) == "A" + "汉" * 15  # 31 columns: the 16th character does not fit
    with pytest.raises(ValueError):
        proto.set_line(5, "x")


# -- what the board shows -------------------------------------------------------------------------------------------


def test_board_lines():
    assert board_lines(BOARD, ("A012", 3)) == EXPECTED
    assert board_lines(Board(), None) == ["请取号 等候叫号", "", "", "等候 0"]
    many = Board(calling=[{"window": w, "number": f"A{w:03d}"} for w in range(1, 13)], waiting={"A": 0})
    lines = board_lines(many, ("A012", 12))
    assert lines[1] == "A001→1 A002→2 A003→3 A004→4"
    assert lines[2] == "A005→5 A006→6 A007→7 A008→8"  # the rest does not fit, and is left out
    assert all(proto.width(line) <= proto.LINE_BYTES for line in lines)


def test_a_call_shows_on_the_simulator(sim, board, tmp_path):
    assert board.show(BOARD, event()) is True
    assert sim.lines == EXPECTED
    assert sim.flashing == {1} and sim.flashes == [(1, 5)]
    assert (tmp_path / "led-board.txt").read_text(encoding="utf-8") == "\n".join(EXPECTED) + "\n"


def test_only_changed_lines_are_sent(sim, board):
    board.handle(event())
    sent = len(sim.frames)
    waiting_more = Board(calling=BOARD.calling, waiting={"A": 6, "V": 1})
    board.handle(event("taken", "A018", None, id=2, board=waiting_more))
    assert [(f.command, f.payload[:1]) for f in sim.frames[sent:]] == [("L", b"\x04")]  # no flash: nobody called
    assert sim.lines[3] == "等候 A:6 V:1" and sim.lines[0] == EXPECTED[0]


def test_a_new_call_replaces_the_headline_and_flashes(sim, board):
    board.handle(event())
    moved = Board(calling=[*BOARD.calling[:2], {"window": 3, "number": "A013"}, BOARD.calling[3]], waiting={"A": 4})
    board.handle(event("called", "A013", 3, id=2, board=moved))
    assert sim.lines[:2] == ["请 A013 到 3号窗口", "A010→1 V003→2 A011→4"]
    assert sim.flashes == [(1, 5), (1, 5)]


def test_a_nakd_frame_is_resent_and_still_arrives(sim, board):
    sim.corrupt_next(2)
    assert board.show(BOARD, event()) is True
    assert sim.naks == 2
    assert sim.lines == EXPECTED


def test_a_frame_nakd_every_time_is_given_up_and_sent_again_later(sim, board):
    board.handle(event())
    moved = Board(
        calling=[*BOARD.calling[:2], {"window": 3, "number": "A013"}, BOARD.calling[3]], waiting={"A": 5, "V": 1}
    )
    sim.corrupt_next(4)  # line 1 fails all four tries (retries=3); the flash after it goes through
    assert board.show(moved, event("called", "A013", 3, id=2, board=moved)) is False
    assert sim.lines == EXPECTED and sim.naks == 4
    assert board.refresh() is True
    assert sim.lines[0] == "请 A013 到 3号窗口"
    assert board.refresh() is True and sim.naks == 4  # nothing left to send


def test_unplugged_and_replugged_the_next_event_redraws_everything(sim, board):
    board.handle(event())
    sim.unplug()
    assert board.show(BOARD, event("taken", "A020", None, id=2)) is False  # unplugged: no error, no board
    sim.replug()
    assert sim.lines == ["", "", "", ""]  # the controller lost power
    sent = len(sim.frames)
    board.handle(event("taken", "A021", None, id=3))
    redraw = [(f.command, f.payload[:1]) for f in sim.frames[sent:]]
    assert redraw == [("C", b""), ("L", b"\x01"), ("L", b"\x02"), ("L", b"\x04")]  # line 3 is blank: cleared
    assert sim.lines == EXPECTED


def test_replugged_between_two_events_the_stale_port_is_reopened_at_once(sim, board):
    board.handle(event())
    sim.unplug()
    sim.replug()
    assert board.show(BOARD, event("taken", "A020", None, id=2)) is True
    assert sim.lines == EXPECTED


def test_keep_connected_redraws_without_a_new_event(sim, tmp_path):
    sim.unplug()
    board = LedBoard(str(tmp_path / "led"), timeout_s=0.3, reconnect_s=0.05)
    assert board.show(BOARD, event()) is False
    stop = threading.Event()
    keeper = threading.Thread(target=board.keep_connected, args=(stop,))
    keeper.start()
    try:
        sim.replug()
        assert sim.wait_for(lambda s: s.lines == EXPECTED, timeout=5)
    finally:
        stop.set()
        keeper.join()
        board.close()


def test_keep_connected_notices_a_replugged_controller_and_redraws_it(sim, tmp_path):
    board = LedBoard(str(tmp_path / "led"), timeout_s=0.3, reconnect_s=0.05)
    board.handle(event())
    stop = threading.Event()
    keeper = threading.Thread(target=board.keep_connected, args=(stop,))
    keeper.start()
    try:
        sim.unplug()
        sim.replug()  # blank after the power loss …
        assert sim.wait_for(lambda s: s.lines == EXPECTED, timeout=5)  # … and redrawn with no new event
    finally:
        stop.set()
        keeper.join()
        board.close()


def test_a_silent_controller_is_given_up_quickly(tmp_path):
    """A port that takes bytes but never answers (wrong device, controller off) is closed, not hammered."""
    with LedBoardSimulator(address=0x09) as sim:  # answers nothing addressed to 0x01
        board = LedBoard(sim.port, timeout_s=0.1, retries=1)
        assert board.show(BOARD, event()) is False
        assert not board.connected


def test_a_port_that_does_not_exist_is_named(tmp_path, caplog):
    board = LedBoard(str(tmp_path / "nothing"), timeout_s=0.1)
    assert board.show(BOARD, event()) is False
    assert str(tmp_path / "nothing") in caplog.text


def test_the_simulator_naks_a_frame_cut_short(sim):
    with serial.Serial(sim.port, timeout=1) as port:
        port.write(proto.set_line(1, "半截")[:6])
        assert port.read(1) == bytes([proto.NAK])  # after the inter-byte timeout
        port.write(proto.set_line(1, "完整"))
        assert port.read(1) == bytes([proto.ACK])
    assert sim.lines[0] == "完整"


def test_the_simulator_naks_invalid_payloads(sim):
    with serial.Serial(sim.port, timeout=1) as port:
        for frame in (
            proto.encode("L", b"\x09abc"),
            proto.encode("B", b"\x20"),
            proto.encode("Z"),
            proto.encode("C", b"x"),
        ):
            port.write(frame)
            assert port.read(1) == bytes([proto.NAK]), frame
        port.write(proto.brightness(3))
        assert port.read(1) == bytes([proto.ACK])
    assert sim.brightness == 3
