"""Photos of a case's materials and of a resident's signature: checked, cleaned and stored.

Why it is built this way:

- The file's name and the browser's Content-Type say nothing: a photo is accepted only when Pillow decodes it
  completely as JPEG or PNG. Before decoding, its size is capped (`Limits.max_bytes`) and so are its pixels
  (`Limits.max_pixels`, read from the header): a small file that unpacks into gigabytes (a decompression bomb) is
  refused without being unpacked.
- Every accepted photo is re-encoded from its pixels, after turning it upright by its EXIF orientation, so nothing
  of the original file survives: no EXIF (a photo taken in a resident's home carries the home's GPS position), no
  comments, no colour profile, nothing appended after the image data.
- Files live under ``<uploads>/<case number>/`` with random names; names from the browser are never used for paths.
  Photos taken before the case exists (the form is still being filled, or the resident's code is awaited) wait in
  ``<uploads>/_staging/<key>/``, owned by the staff member who took them, and move into the case's folder when it
  is filed. Staging folders left for a day are removed.
- Decoding and file I/O block: callers run these functions in a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import secrets
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps
from sanic import Request
from sanic.headers import parse_content_header

from vocabulary.case_numbers import is_case_number

logger = logging.getLogger(__name__)

MB = 1024 * 1024
FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png")}
CONTENT_TYPES = {extension: content_type for content_type, extension in FORMATS.values()}
SIGNATURE = "signature"
"""The material id of the resident's signature photo (consent to 代办)."""
STAGING_DIR = "_staging"
STAGING_KEY = re.compile(r"^[A-Za-z0-9_-]{16,32}$")
_STORED_NAME = re.compile(r"^(?P<material>[a-z][a-z0-9_]{0,63})\.(?P<token>[A-Za-z0-9_-]{22})\.(?P<ext>jpg|png)$")
STAGING_MAX_AGE_S = 24 * 3600


@dataclass(frozen=True)
class Limits:
    """What a photo may be: at most ``max_bytes`` as uploaded and ``max_pixels`` (width × height)."""

    max_bytes: int
    max_pixels: int


class PhotoRefused(ValueError):
    """Not an acceptable photo; ``message`` says why in Chinese, for the staff member who chose the file."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Photo:
    """A checked photo, re-encoded: ``data`` is what is stored."""

    data: bytes
    content_type: str
    extension: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f}".rstrip("0").rstrip(".")


def check_photo(raw: bytes, limits: Limits, *, label: str = "照片") -> Photo:
    """``raw`` decoded as JPEG or PNG and re-encoded without metadata; `PhotoRefused` otherwise. Blocks."""
    if len(raw) > limits.max_bytes:
        raise PhotoRefused(
            "too_large", f"“{label}”太大（{_megabytes(len(raw))} MB），每张照片最多 {_megabytes(limits.max_bytes)} MB。"
        )
    not_a_photo = PhotoRefused("not_a_photo", f"“{label}”不是 JPEG 或 PNG 格式的照片，只能上传 JPEG 或 PNG 照片。")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw), formats=("JPEG", "PNG"))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(label, None, limits) from None
    except (OSError, SyntaxError, ValueError):
        raise not_a_photo from None
    width, height = image.size
    if width * height > limits.max_pixels:  # known from the header, before anything is unpacked
        raise _too_many_pixels(label, width * height, limits)
    try:
        image.load()  # decodes everything: a truncated or damaged file fails here
    except (OSError, SyntaxError, ValueError):
        raise PhotoRefused("damaged", f"“{label}”已损坏或不完整，无法打开，请重新拍照。") from None
    # Phones write some JPEGs as MPO (a JPEG with extra frames, e.g. depth maps): its first frame is the photo.
    kind = "JPEG" if image.format in ("JPEG", "MPO") else "PNG"
    content_type, extension = FORMATS[kind]
    return Photo(_reencode(image, kind), content_type, extension)


def _too_many_pixels(label: str, pixels: int | None, limits: Limits) -> PhotoRefused:
    size = f"（{pixels // 10_000} 万像素）" if pixels else ""
    return PhotoRefused("too_many_pixels", f"“{label}”像素太多{size}，最多 {limits.max_pixels // 10_000} 万像素。")


def _reencode(image: Image.Image, kind: str) -> bytes:
    """The pixels only, upright, in the photo's own format (JPEG stays JPEG, PNG stays PNG)."""
    upright = ImageOps.exif_transpose(image)  # a copy, turned as the camera meant it; orientation is then dropped
    upright.info = {}  # nothing carried over: EXIF, ICC profile, comments, text chunks
    out = io.BytesIO()
    if kind == "JPEG":
        if upright.mode not in ("L", "RGB"):
            upright = upright.convert("RGB")
        upright.save(out, "JPEG", quality=88, optimize=True)
    else:
        if upright.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
            upright = upright.convert("RGBA")
        upright.save(out, "PNG", optimize=True)
    return out.getvalue()


@dataclass(frozen=True)
class StoredPhoto:
    """A photo in a folder: its material, file name, type, size and hash."""

    material_id: str
    stored_name: str
    content_type: str
    size: int
    sha256: str


class PhotoStore:
    """The uploads folder: staged photos (``_staging/<key>``) and each case's photos (``<case number>/``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @staticmethod
    def new_key() -> str:
        return secrets.token_urlsafe(18)

    def _staging(self, key: str) -> Path:
        if not STAGING_KEY.fullmatch(key):
            raise ValueError("bad staging key")
        return self.root / STAGING_DIR / key

    def case_file(self, case_number: str, stored_name: str) -> Path:
        """Where a case's photo is; ValueError for names this store never makes (no path tricks)."""
        if not is_case_number(case_number) or not _STORED_NAME.fullmatch(stored_name):
            raise ValueError("bad photo name")
        return self.root / case_number / stored_name

    def stage(self, key: str, owner: str, material_id: str, photo: Photo) -> StoredPhoto:
        """Keep ``photo`` for ``material_id`` under ``key`` until the case is filed."""
        folder = self._staging(key)
        folder.mkdir(parents=True, exist_ok=True)
        owner_file = folder / ".owner"
        if not owner_file.exists():
            owner_file.write_text(owner, encoding="utf-8")
        elif owner_file.read_text(encoding="utf-8") != owner:
            raise ValueError("staging key of someone else")
        return self._write(folder, material_id, photo)

    def staged(self, key: str, owner: str) -> list[StoredPhoto]:
        """The photos waiting under ``key``, when ``owner`` took them (nobody else's)."""
        folder = self._staging(key)
        owner_file = folder / ".owner"
        if not owner_file.exists() or owner_file.read_text(encoding="utf-8") != owner:
            return []
        in_order = sorted((path for path in folder.iterdir() if _named(path)), key=lambda p: p.stat().st_mtime_ns)
        return [_describe(path) for path in in_order]

    def usable(self, key: str, owner: str) -> bool:
        """True when ``key`` is new or holds ``owner``'s photos (a key sent back by someone else is not)."""
        owner_file = self._staging(key) / ".owner"
        return not owner_file.exists() or owner_file.read_text(encoding="utf-8") == owner

    def discard(self, key: str, owner: str) -> None:
        """Remove every photo waiting under ``key`` (a filing given up)."""
        if self.usable(key, owner):
            shutil.rmtree(self._staging(key), ignore_errors=True)

    def unstage(self, key: str, owner: str, stored_name: str) -> None:
        """Remove one waiting photo of ``owner``."""
        if any(photo.stored_name == stored_name for photo in self.staged(key, owner)):
            (self._staging(key) / stored_name).unlink(missing_ok=True)

    def commit(self, key: str, owner: str, case_number: str) -> list[StoredPhoto]:
        """Move the photos waiting under ``key`` into the case's folder; the staging folder goes."""
        photos = self.staged(key, owner)
        target = self.root / case_number
        target.mkdir(parents=True, exist_ok=True)
        for photo in photos:
            (self._staging(key) / photo.stored_name).replace(self.case_file(case_number, photo.stored_name))
        shutil.rmtree(self._staging(key), ignore_errors=True)
        return photos

    def save(self, case_number: str, material_id: str, photo: Photo) -> StoredPhoto:
        """Store ``photo`` straight into the case's folder."""
        folder = self.root / case_number
        if not is_case_number(case_number):
            raise ValueError("bad case number")
        folder.mkdir(parents=True, exist_ok=True)
        return self._write(folder, material_id, photo)

    def sweep(self, max_age_s: float = STAGING_MAX_AGE_S) -> int:
        """Remove staging folders untouched for ``max_age_s``; how many went."""
        staging, removed = self.root / STAGING_DIR, 0
        if not staging.is_dir():
            return 0
        cutoff = time.time() - max_age_s
        for folder in staging.iterdir():
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed

    @staticmethod
    def _write(folder: Path, material_id: str, photo: Photo) -> StoredPhoto:
        name = f"{material_id}.{secrets.token_urlsafe(16)}.{photo.extension}"
        if not _STORED_NAME.fullmatch(name):
            raise ValueError(f"bad material id {material_id!r}")
        path = folder / name
        partial = path.with_name(f".{name}.part")
        partial.write_bytes(photo.data)
        partial.replace(path)  # a reader never sees half a file
        return StoredPhoto(material_id, name, photo.content_type, len(photo.data), photo.sha256)


def _named(path: Path) -> bool:
    return bool(_STORED_NAME.fullmatch(path.name))


def _describe(path: Path) -> StoredPhoto:
    match = _STORED_NAME.fullmatch(path.name)
    assert match is not None
    data = path.read_bytes()
    return StoredPhoto(
        match["material"], path.name, CONTENT_TYPES[match["ext"]], len(data), hashlib.sha256(data).hexdigest()
    )


class BodyTooLarge(Exception):
    """The request body went past the hard limit: the connection is dropped rather than read on."""


async def receive_form(request: Request, *, keep: int, hard_limit: int) -> bool:
    """Read a streamed form body into ``request.body`` (so ``request.form`` and ``request.files`` work), keeping at
    most ``keep`` bytes; True when the body was longer. The rest is read and dropped, so the browser gets the page
    that explains, not a reset connection; a body past ``hard_limit`` raises `BodyTooLarge`.

    A longer multipart body is cut after its last complete part: browsers send fields in page order, so the text
    fields (placed before the photos) and the first photos survive, and nothing typed is lost.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > hard_limit:
        raise BodyTooLarge()
    body, seen, overflow = bytearray(), 0, False
    while (chunk := await request.stream.read()) is not None:
        seen += len(chunk)
        if seen > hard_limit:
            raise BodyTooLarge()
        if not overflow:
            body += chunk
            if len(body) > keep:
                overflow = True
                del body[keep:]
    if overflow:
        body = _complete_parts(body, request.headers.get("content-type", ""))
    request.body = bytes(body)
    return overflow


def _complete_parts(body: bytearray, content_type: str) -> bytearray:
    kind, parameters = parse_content_header(content_type)
    boundary = str(parameters.get("boundary", "")).encode()
    if kind != "multipart/form-data" or not boundary:
        return bytearray()
    end = body.rfind(boundary)
    return body[: end + len(boundary)] if end > 0 else bytearray()
