"""Admin pages for the catalog's material lists (申请材料目录), for admins only: ``/console/admin/catalog`` (the 25
items and the latest changes), ``…/<item id>`` (edit one item's list), ``…/<item id>/history`` (every change with
its diff; restore an earlier version as a new change).

Why they work this way:

- ``items.yml`` stays the base; an edit stores the item's whole list before and after, who, when and why
  (`backend.services.catalog_edits`). The list is checked by the catalog's own schema before anything is stored, and a
  refused form comes back as it was typed, with the reason in Chinese.
- The page works without scripts (the console's CSP allows none inline): a material is removed with a checkbox,
  moved by its number in the 序号 column, added in one of the blank rows at the end.
- A material's id is fixed once it exists: cases and checklists name materials by id. A new material's id may be
  left blank; it is made from the name's pinyin.
- The form carries the version it was drawn from: if another admin saved the item in between, the save is refused
  instead of silently undoing their change.
- After a save this worker rebuilds its catalog at once; other workers within `store.REFRESH_INTERVAL_S`. Cases
  already filed keep the materials they were filed with (``case_materials``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from sanic import Blueprint, Request, redirect
from sanic.response import HTTPResponse

from backend.catalog import store
from backend.catalog.edits import FIELD_LABELS, FORM_LABELS, Diff, EditRefused, MaterialList, diff, dump_materials, find
from backend.catalog.schema import Catalog, Item
from backend.console.guard import staff_page
from backend.console.render import render
from backend.models import CatalogEdit, StaffRole, as_utc
from backend.services import catalog_edits

catalog_pages = Blueprint("console_admin_catalog", url_prefix="/console/admin/catalog")
ADMIN = StaffRole.ADMIN

BLANK_ROWS = 3
"""Empty rows at the end of the form for new materials."""
MAX_ROWS = 60
DONE = {
    "saved": "材料目录已保存并立即生效：新的材料清单和办件使用新目录，已提交的办件保留原来的材料。",
    "restored": "已恢复为所选版本（记为一次新的修改）。",
}
_NOT_ID = re.compile(r"[^a-z0-9]+")


@dataclass
class Row:
    """One row of the edit form: a material as stored, or as the admin typed it."""

    id: str = ""
    name: str = ""
    form: str = "original"
    count: str = "1"
    looked_up: bool = False
    condition: str = ""
    note: str = ""
    order: str = ""
    new: bool = False
    removed: bool = False

    @classmethod
    def of(cls, material: dict[str, Any], order: int) -> Row:
        return cls(
            id=material["id"],
            name=material["name"],
            form=material["form"],
            count=str(material.get("count", 1)),
            looked_up=bool(material.get("looked_up")),
            condition=material.get("condition") or "",
            note=material.get("note") or "",
            order=str(order),
        )


@dataclass
class Version:
    """One version of an item's list on the history page."""

    edit: CatalogEdit | None
    """None for the list in items.yml."""
    changes: Diff
    when: str = ""
    restored_label: str = ""
    current: bool = False
    materials: MaterialList = field(default_factory=list)


# --- reading -------------------------------------------------------------------------------------------------------
def _base(request: Request) -> Catalog:
    return request.app.ctx.base_catalog


def _local(request: Request, moment: dt.datetime | None) -> str:
    moment = as_utc(moment)
    return moment.astimezone(request.app.ctx.settings.timezone).strftime("%Y-%m-%d %H:%M") if moment else ""


async def _current(request: Request, item: Item) -> tuple[MaterialList, int, list[CatalogEdit]]:
    """The item's list as the database has it now (not this worker's copy), its version and its edits."""
    lists = await catalog_edits.item_lists(request.app.ctx.db, item)
    return lists.materials, lists.version, lists.edits


def _not_found(request: Request) -> HTTPResponse:
    return render(request, "message.html", status=404, title="没有找到事项", message="目录中没有这个办理事项。")


@catalog_pages.get("/")
@staff_page(ADMIN)
async def index(request: Request) -> HTTPResponse:
    latest, recent = await catalog_edits.overview(request.app.ctx.db, recent=20)
    catalog = request.app.ctx.catalog
    names = {item.id: item.name for item in catalog.items}
    return render(
        request,
        "admin_catalog.html",
        items=catalog.items,
        latest={item_id: (edit, _local(request, edit.created_at)) for item_id, edit in latest.items()},
        recent=[(edit, names.get(edit.item_id, edit.item_id), _local(request, edit.created_at)) for edit in recent],
    )


# --- editing -------------------------------------------------------------------------------------------------------
@catalog_pages.get("/<item_id:str>")
@staff_page(ADMIN)
async def item_page(request: Request, item_id: str) -> HTTPResponse:
    item = find(_base(request), item_id)
    if item is None:
        return _not_found(request)
    materials, version, edits = await _current(request, item)
    rows = [Row.of(m, index + 1) for index, m in enumerate(materials)]
    done = DONE.get(request.args.get("done", ""), "")
    return await _edit_view(request, item, rows, version, edits=edits, done=done)


@catalog_pages.post("/<item_id:str>")
@staff_page(ADMIN)
async def save(request: Request, item_id: str) -> HTTPResponse:
    item = find(_base(request), item_id)
    if item is None:
        return _not_found(request)
    rows = _rows(request)
    reason = (request.form.get("reason") or "")[:1000]
    version = _int(request.form.get("version"))
    try:
        materials = _materials(rows)
        await catalog_edits.save(
            request.app.ctx.db,
            _base(request),
            item.id,
            materials,
            actor=request.ctx.staff.user.username,
            note=reason,
            expected_version=version,
        )
    except EditRefused as refused:
        status = 409 if isinstance(refused, store.StaleEdit) else 422
        return await _edit_view(request, item, rows, version, error=str(refused), reason=reason, status=status)
    await request.app.ctx.live_catalog.refresh(request.app)
    return redirect(f"/console/admin/catalog/{item.id}?done=saved", status=303)


def _int(raw: str | None, default: int = 0) -> int:
    raw = (raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 9 else default


def _rows(request: Request) -> list[Row]:
    """The rows as typed (blank new rows dropped), in the order of their 序号 (ties keep the form's order)."""
    form, rows = request.form, []
    for index in range(min(_int(form.get("rows")), MAX_ROWS)):
        row = Row(
            id=(form.get(f"id-{index}") or "").strip()[:100],
            name=(form.get(f"name-{index}") or "").strip()[:200],
            form=(form.get(f"form-{index}") or "")[:24],
            count=(form.get(f"count-{index}") or "").strip()[:6],
            looked_up=form.get(f"looked_up-{index}") == "1",
            condition=(form.get(f"condition-{index}") or "")[:64],
            note=(form.get(f"note-{index}") or "").strip()[:1000],
            order=(form.get(f"order-{index}") or "").strip()[:6],
            new=form.get(f"new-{index}") == "1",
            removed=form.get(f"remove-{index}") == "1",
        )
        if row.new and not (row.id or row.name or row.note):
            continue
        rows.append(row)
    keyed = [(_order(row.order, index), index, row) for index, row in enumerate(rows)]
    return [row for *_, row in sorted(keyed, key=lambda entry: entry[:2])]


def _order(raw: str, index: int) -> float:
    try:
        order = float(raw)
    except ValueError:
        return float(index + 1)
    return order if math.isfinite(order) else float(index + 1)


def _materials(rows: list[Row]) -> MaterialList:
    """The list the rows describe (removed rows left out); new materials without an id get one from the name."""
    kept = [row for row in rows if not row.removed]
    taken = {row.id for row in kept if row.id}
    materials = []
    for row in kept:
        if row.new and not row.id and row.name:
            row.id = _id_from_name(row.name, taken)
            taken.add(row.id)
        count: Any = int(row.count) if row.count.isascii() and row.count.isdigit() else row.count
        material = {"id": row.id, "name": row.name, "form": row.form, "count": count, "looked_up": row.looked_up}
        material |= {"condition": row.condition or None, "note": row.note or None}
        materials.append(material)
    return materials


def _id_from_name(name: str, taken: set[str]) -> str:
    """``户口簿`` → ``hu_kou_bu`` (``hu_kou_bu_2`` if taken)."""
    from pypinyin import lazy_pinyin  # its dictionaries load on first use, not with the console

    words = [_NOT_ID.sub("_", word.lower()).strip("_") for word in lazy_pinyin(name)]
    base = "_".join(word for word in words if word)[:48] or "material"
    if not base[0].isalpha():
        base = f"m_{base}"
    candidate, suffix = base, 2
    while candidate in taken:
        candidate, suffix = f"{base}_{suffix}", suffix + 1
    return candidate


async def _edit_view(
    request: Request,
    item: Item,
    rows: list[Row],
    version: int,
    *,
    edits: list[CatalogEdit] | None = None,
    error: str = "",
    done: str = "",
    reason: str = "",
    status: int = 200,
) -> HTTPResponse:
    if edits is None:
        _, _, edits = await _current(request, item)
    yaml_list = dump_materials(item.materials)
    yaml_moved = bool(edits) and edits[-1].before != yaml_list  # items.yml changed since the first edit
    blank = [Row(new=True, order=str(len(rows) + n + 1)) for n in range(BLANK_ROWS)]
    return render(
        request,
        "admin_catalog_item.html",
        status=status,
        item=item,
        rows=rows + blank,
        version=version,
        edits=len(edits),
        last=(edits[0], _local(request, edits[0].created_at)) if edits else None,
        conditions=_base(request).conditions,
        form_labels=FORM_LABELS,
        error=error,
        done=done,
        reason=reason,
        yaml_moved=yaml_moved,
    )


# --- history and restore -------------------------------------------------------------------------------------------
@catalog_pages.get("/<item_id:str>/history")
@staff_page(ADMIN)
async def history_page(request: Request, item_id: str) -> HTTPResponse:
    return await _history_view(request, item_id)


@catalog_pages.post("/<item_id:str>/restore")
@staff_page(ADMIN)
async def restore(request: Request, item_id: str) -> HTTPResponse:
    item = find(_base(request), item_id)
    if item is None:
        return _not_found(request)
    target = _int(request.form.get("target"), -1)
    reason = (request.form.get("reason") or "")[:1000]
    try:
        await catalog_edits.restore(
            request.app.ctx.db,
            _base(request),
            item,
            target,
            actor=request.ctx.staff.user.username,
            note=reason,
            expected_version=_int(request.form.get("version")),
        )
    except catalog_edits.UnknownVersion:
        return await _history_view(request, item.id, error="没有这个版本。", status=404)
    except EditRefused as refused:
        status = 409 if isinstance(refused, store.StaleEdit) else 422
        return await _history_view(request, item.id, error=str(refused), status=status, target=target, reason=reason)
    await request.app.ctx.live_catalog.refresh(request.app)
    return redirect(f"/console/admin/catalog/{item.id}/history?done=restored", status=303)


async def _history_view(
    request: Request, item_id: str, *, error: str = "", status: int = 200, target: int = -1, reason: str = ""
) -> HTTPResponse:
    item = find(_base(request), item_id)
    if item is None:
        return _not_found(request)
    current, version, edits = await _current(request, item)
    yaml_list = dump_materials(item.materials)
    versions = []
    for edit in edits:
        restored = ""
        if edit.restored_from == store.YAML_VERSION:
            restored = "恢复为 items.yml 原始版本"
        elif edit.restored_from is not None:
            restored = f"恢复为第 {edit.restored_from} 号修改后的版本"
        versions.append(
            Version(
                edit=edit,
                changes=diff(list(edit.before), list(edit.after)),
                when=_local(request, edit.created_at),
                restored_label=restored,
                current=edit.version == version,
                materials=list(edit.after),
            )
        )
    original = Version(edit=None, changes=Diff(), current=current == yaml_list and not edits, materials=yaml_list)
    return render(
        request,
        "admin_catalog_history.html",
        status=status,
        item=item,
        versions=versions,
        original=original,
        yaml_is_current=current == yaml_list,
        version=version,
        form_labels=FORM_LABELS,
        field_labels=FIELD_LABELS,
        conditions={c.id: c.description for c in _base(request).conditions},
        error=error,
        target=target,
        reason=reason,
        done=DONE.get(request.args.get("done", ""), "") if not error else "",
    )
