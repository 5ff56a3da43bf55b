"""The conversations the load generator plays: what residents type, in their own words, and who they are.

Each script is one resident's visit from first words to goodbye: asking what to bring, how long it takes, what it
costs and where to go; filing a case (name, ID number, phone, community) and taking a queue number; checking how a
case is getting on; WeChat followers who just followed the account or tap the menu; and people who are confused or
off topic. A script's weight is how often residents come for it. ``{name}``, ``{id_number}``, ``{phone}`` and
``{community}`` in a message are filled in from the resident playing it.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import random
from collections.abc import Sequence
from dataclasses import dataclass

from harness.ids import resident_id_number

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN_NAMES = ("秀英", "建国", "伟", "芳", "静", "丽华", "志明", "红梅", "晓东", "玉兰", "建华", "国强", "桂英", "峰")
COMMUNITIES = ("骆家庄社区", "翠苑一区社区", "华联社区", "三墩社区", "紫金港社区", "西溪社区")
AREAS = ("330106", "330105", "330102", "330110", "330108", "330127")
"""Hangzhou districts' area codes (西湖, 拱墅, 上城, 余杭, 滨江, 淳安) for the residents' ID numbers."""
PHONE_PREFIXES = ("138", "139", "137", "135", "150", "158", "187", "189", "133", "177")


@dataclass(frozen=True)
class Resident:
    """The person behind one conversation: what they answer when the form asks."""

    name: str
    id_number: str
    phone: str
    community: str


@dataclass(frozen=True)
class Say:
    """A text message; ``{field}`` placeholders are filled from the Resident."""

    text: str


@dataclass(frozen=True)
class Event:
    """A WeChat event: ``subscribe`` (a new follower) or ``CLICK`` on a menu button (``key``)."""

    event: str
    key: str | None = None


Step = Say | Event


@dataclass(frozen=True)
class Script:
    """One kind of visit."""

    name: str
    weight: int
    """Relative frequency among the scripts a channel can play."""
    steps: tuple[Step, ...]
    ages: tuple[int, int] = (25, 55)
    """The resident's age range in years, inclusive: inside the item's age rule when the script files a case."""
    wechat_only: bool = False
    """Has WeChat events (the REST channel has none)."""
    returning: bool = False
    """Played by the resident of this user's last filed case when there is one (checking on it)."""
    files_case: bool = False
    """Ends with a case in the backend."""


def _says(*texts: str) -> tuple[Say, ...]:
    """Messages typed one after another."""
    return tuple(Say(text) for text in texts)


SCRIPTS: tuple[Script, ...] = (
    # --- what to bring, how long, how much, where -------------------------------------------------------------
    Script(
        "materials_residence_permit",
        8,
        _says("你好", "我想办居住证，要带什么材料", "1", "不用了", "要多久能拿到", "谢谢"),
    ),
    Script(
        "materials_elderly_card",
        6,
        _says("老年人优待证要准备什么东西", "不用", "要钱吗", "在哪里办", "好的谢谢"),
        ages=(60, 85),
    ),
    Script(
        "materials_medical_insurance",
        6,
        _says("给小孩交医保要带啥", "不用了", "什么时候能办好", "谢谢你"),
    ),
    Script(
        "guide_birth_registration",
        5,
        _says("老婆怀上二胎了，生育登记怎么弄", "3", "要带什么", "不用", "谢谢"),
        ages=(24, 38),
    ),
    Script(
        "fee_and_place_transit_card",
        4,
        _says("坐公交不要钱那个卡怎么办", "要交钱吗", "去哪里办", "我七十了能办吗", "谢谢小姑娘"),
        ages=(70, 85),
    ),
    Script(
        "menu_browsing",
        4,
        _says("您好，请问一下", "2", "1", "3", "好的"),
    ),
    # --- filing a case, then a number for the queue ------------------------------------------------------------
    Script(
        "file_residence_permit",
        8,
        _says("我想办居住证", "4", "{name}", "{id_number}", "{phone}", "{community}", "好的", "谢谢"),
        ages=(22, 50),
        files_case=True,
    ),
    Script(
        "file_elderly_card",
        5,
        _says(
            "我今年六十多了，想办个老年人优待证",
            "4",
            "我叫{name}",
            "{id_number}",
            "{phone}",
            "住在{community}",
            "不用了",
            "谢谢",
        ),
        ages=(61, 80),
        files_case=True,
    ),
    Script(
        "file_birth_registration",
        4,
        _says(
            "刚查出来有了，要做生育登记",
            "我要申请",
            "{name}",
            "身份证号 {id_number}",
            "手机 {phone}",
            "{community}",
            "好的",
            "谢谢",
        ),
        ages=(24, 38),
        files_case=True,
    ),
    Script(
        "file_medical_insurance",
        3,
        _says("我想参加城乡居民医保", "4", "{name}", "{id_number}", "{phone}", "{community}", "不要", "谢谢"),
        ages=(30, 60),
        files_case=True,
    ),
    Script(
        "checklist_then_file_transit_card",
        3,
        _says(
            "老年咖怎么办",
            "2",
            "不是",
            "都带了",
            "好的",
            "{name}",
            "{id_number}",
            "{phone}",
            "{community}",
            "好的",
            "谢谢",
        ),
        ages=(62, 85),
        files_case=True,
    ),
    # --- the queue and progress --------------------------------------------------------------------------------
    Script("take_number", 5, _says("你好", "我想现场办，帮我取个号", "谢谢")),
    Script(
        "check_progress",
        5,
        _says("上礼拜交的材料，办好了没", "我的身份证号是{id_number}", "好的，谢谢"),
        returning=True,
    ),
    # --- WeChat followers: a new follow, the menu's buttons ----------------------------------------------------
    Script(
        "new_follower",
        5,
        (Event("subscribe"), Event("CLICK", "DEPT_medical_insurance"), Say("1"), Say("谢谢")),
        wechat_only=True,
    ),
    Script(
        "menu_progress_and_number",
        3,
        (Event("CLICK", "PROGRESS"), Say("{id_number}"), Event("CLICK", "TAKE_NUMBER"), Say("谢谢")),
        wechat_only=True,
        returning=True,
    ),
    # --- confused or off topic ---------------------------------------------------------------------------------
    Script("off_topic", 3, _says("今天天气怎么样", "阿巴阿巴", "找工作人员")),
    Script("elsewhere", 3, _says("我想办护照", "那结婚登记呢", "你是机器人吗", "再见")),
    Script("typos", 1, _says("老年咖怎么办", "1", "不用了", "谢了")),
)


def chosen(patterns: str, scripts: Sequence[Script] = SCRIPTS) -> tuple[Script, ...]:
    """The scripts whose names match any of the comma-separated shell patterns ("" or "*": all)."""
    wanted = [p.strip() for p in patterns.split(",") if p.strip()] or ["*"]
    found = tuple(s for s in scripts if any(fnmatch.fnmatchcase(s.name, p) for p in wanted))
    if not found:
        raise ValueError(f"no conversation script matches {patterns!r}: {[s.name for s in scripts]}")
    return found


def draw(rng: random.Random, scripts: Sequence[Script], *, wechat: bool) -> Script:
    """One script, by weight, among those the channel can play."""
    playable = [s for s in scripts if wechat or not s.wechat_only]
    if not playable:
        raise ValueError("no conversation script can be played over REST (all are WeChat-only)")
    return rng.choices(playable, weights=[s.weight for s in playable])[0]


def new_resident(rng: random.Random, ages: tuple[int, int], today: dt.date | None = None) -> Resident:
    """A made-up resident whose age (on ``today``) lies in ``ages``, with a valid, most likely unused ID number."""
    today = today or dt.date.today()
    age = rng.randint(*ages)
    # Born between (age + 1) years and age years before today, a day's margin at each end.
    birthday = today.replace(year=today.year - age, day=28 if (today.month, today.day) == (2, 29) else today.day)
    born = birthday - dt.timedelta(days=rng.randint(1, 364))
    id_number = resident_id_number(rng.choice(AREAS), born.strftime("%Y%m%d"), f"{rng.randrange(1000):03d}")
    phone = rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"
    name = rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)
    return Resident(name, id_number, phone, rng.choice(COMMUNITIES))


def words(step: Say, resident: Resident) -> str:
    """The message as the resident types it."""
    return step.text.format(
        name=resident.name, id_number=resident.id_number, phone=resident.phone, community=resident.community
    )
