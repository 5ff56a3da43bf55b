"""Admins' edits of an item's material list (申请材料目录) on top of ``items.yml``: check, apply and compare them.

The YAML file stays the base. An edit replaces one item's whole material list; the effective catalog is the base
with each item's latest list applied, validated by the same pydantic schema as the file (`backend.catalog.schema`),
so an edit the file could not hold (an empty name, a repeated id, a condition nobody defined …) is refused with a
Chinese message before anything is stored. Storing edits and keeping each worker's catalog fresh is
`backend.catalog.store`; this module is pure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from backend.catalog.schema import Catalog, Item, Material, MaterialForm

logger = logging.getLogger(__name__)

MaterialList = list[dict[str, Any]]
"""A material list as stored (JSON): each material as ``Material.model_dump(mode="json")``."""

MAX_NAME = 100
"""Longest material name: cases copy it into ``case_materials.name`` (VARCHAR 100) when they are filed."""
MAX_ID = 64
"""Longest material id (``case_materials.material_id`` is VARCHAR 64)."""
MAX_NOTE = 500

FIELD_LABELS = {
    "id": "编号",
    "name": "名称",
    "form": "提交形式",
    "count": "份数",
    "looked_up": "系统查询（无需携带）",
    "condition": "适用情形",
    "note": "说明",
}
FORM_LABELS = {
    MaterialForm.ORIGINAL.value: "原件",
    MaterialForm.COPY.value: "复印件",
    MaterialForm.ORIGINAL_AND_COPY.value: "原件及复印件",
}


class EditRefused(ValueError):
    """An edit the catalog schema (or the database's column sizes) does not allow; the message is Chinese."""


def dump_materials(materials: Sequence[Material]) -> MaterialList:
    """The list as stored: every field, so a stored list never depends on the schema's defaults of the day."""
    return [material.model_dump(mode="json") for material in materials]


def find(catalog: Catalog, item_id: str) -> Item | None:
    """The item with this id, or None."""
    return next((item for item in catalog.items if item.id == item_id), None)


# --- checking one edit ---------------------------------------------------------------------------------------------
def _row(index: int, materials: MaterialList) -> str:
    name = str(materials[index].get("name") or "").strip() if index < len(materials) else ""
    return f"第 {index + 1} 项材料{f'“{name}”' if name else ''}"


def _precheck(item: Item, materials: MaterialList) -> None:
    """Problems worth a sentence of their own, before pydantic's generic ones."""
    if not materials:
        raise EditRefused(f"“{item.name}”至少要有一项材料。")
    seen: dict[str, int] = {}
    for index, material in enumerate(materials):
        material_id, name = str(material.get("id") or "").strip(), str(material.get("name") or "").strip()
        if not name:
            raise EditRefused(f"第 {index + 1} 项材料的名称不能为空。")
        if len(name) > MAX_NAME:
            raise EditRefused(f"{_row(index, materials)}的名称太长了，最多 {MAX_NAME} 个字。")
        if len(str(material.get("note") or "")) > MAX_NOTE:
            raise EditRefused(f"{_row(index, materials)}的说明太长了，最多 {MAX_NOTE} 个字。")
        if len(material_id) > MAX_ID:
            raise EditRefused(f"{_row(index, materials)}的编号太长了，最多 {MAX_ID} 个字符。")
        if material_id in seen:
            raise EditRefused(
                f"材料编号“{material_id}”重复了（第 {seen[material_id] + 1} 项和第 {index + 1} 项），"
                "每项材料的编号必须不同。"
            )
        if material_id:
            seen[material_id] = index


def _message(item: Item, materials: MaterialList, error: Mapping[str, Any]) -> str:
    """One pydantic error of the edited catalog as a sentence for the admin."""
    loc = [part for part in error["loc"]]
    kind, text = error["type"], str(error.get("msg", ""))
    if "materials" in loc:
        after = loc[loc.index("materials") + 1 :]
        if after and isinstance(after[0], int):
            row, label = _row(after[0], materials), FIELD_LABELS.get(str(after[1]) if len(after) > 1 else "", "")
            if kind == "string_pattern_mismatch" and label == "编号":
                return f"{row}的编号只能用小写英文字母、数字和下划线，并以字母开头（例如 id_card）。"
            if kind == "string_pattern_mismatch" and label == "适用情形":
                return f"{row}的适用情形不正确，请从列表中选择。"
            if kind == "missing":
                return f"{row}缺少“{label}”。"
            if kind == "string_too_short":
                return f"{row}的“{label}”不能为空。"
            if kind in {"greater_than_equal", "less_than_equal"}:
                return f"{row}的份数须在 1 到 20 之间。"
            if kind == "enum":
                return f"{row}的提交形式只能是原件、复印件或原件及复印件。"
            if kind.endswith(("_type", "_parsing")):
                return f"{row}的“{label}”格式不正确。"
            return f"{row}的“{label or '内容'}”不符合要求。"
        if kind == "too_short":
            return f"“{item.name}”至少要有一项材料。"
    if "ID-only item" in text:
        return (
            f"“{item.name}”是凭身份证即可办理的事项，材料目录中必须恰好有一项需要本人携带、且不附带情形的材料"
            "（其余的应为“系统查询”或有适用情形）。"
        )
    if "material ids repeat" in text:
        return "材料编号重复了，每项材料的编号必须不同。"
    if "unknown condition" in text:
        return "有材料的适用情形在目录中不存在，请从列表中选择。"
    return f"这样修改不符合事项目录的规则：{text}"


def _replaced(base: Catalog, lists: Mapping[str, MaterialList]) -> dict[str, Any]:
    raw = base.model_dump(mode="python")
    for entry in raw["items"]:
        if entry["id"] in lists:
            entry["materials"] = lists[entry["id"]]
    return raw


def check_edit(catalog: Catalog, item_id: str, materials: MaterialList) -> Catalog:
    """``catalog`` with ``item_id``'s materials replaced by ``materials``, validated by the catalog's schema;
    raises EditRefused with a Chinese message naming the material and the problem."""
    item = find(catalog, item_id)
    if item is None:
        raise EditRefused(f"没有办理事项“{item_id}”。")
    _precheck(item, materials)
    try:
        edited = Catalog.model_validate(_replaced(catalog, {item_id: materials}))
    except ValidationError as exc:
        raise EditRefused(_message(item, materials, exc.errors(include_url=False)[0])) from None
    return edited


def normalised(catalog: Catalog, item_id: str) -> MaterialList:
    """The item's list as the schema leaves it (stripped strings, defaults filled in), ready to store."""
    item = find(catalog, item_id)
    return dump_materials(item.materials) if item else []


# --- the effective catalog -----------------------------------------------------------------------------------------
def apply_edits(base: Catalog, latest: Mapping[str, MaterialList]) -> Catalog:
    """``base`` with each item's latest list. A list the base no longer accepts (say ``items.yml`` dropped a
    condition it names) is left out and logged, so one stale edit cannot keep the backend from starting."""
    known = {item.id for item in base.items}
    lists = {item_id: materials for item_id, materials in latest.items() if item_id in known}
    for item_id in sorted(set(latest) - known):
        logger.error("catalog edit for %r ignored: items.yml has no such item", item_id)
    try:
        return Catalog.model_validate(_replaced(base, lists))
    except ValidationError:
        pass
    effective = base
    for item_id, materials in sorted(lists.items()):
        try:
            effective = check_edit(effective, item_id, materials)
        except EditRefused as refused:
            logger.error("catalog edit for %r ignored, items.yml's list is used: %s", item_id, refused)
    return effective


# --- comparing two lists -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldChange:
    """One field of a material that an edit changed, with both values as the page shows them."""

    label: str
    before: str
    after: str


@dataclass(frozen=True)
class Diff:
    """What an edit did to a list: materials added, removed, changed (by id), and whether the order changed."""

    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[dict[str, Any], list[FieldChange]]] = field(default_factory=list)
    reordered: bool = False

    @property
    def empty(self) -> bool:
        """True when the two lists are the same."""
        return not (self.added or self.removed or self.changed or self.reordered)

    def summary(self) -> dict[str, list[str]]:
        """Material ids per kind of change (for the audit log)."""
        return {
            "added": [m["id"] for m in self.added],
            "removed": [m["id"] for m in self.removed],
            "changed": [m["id"] for m, _ in self.changed],
        }


def shown(key: str, value: Any) -> str:
    """A material field's value as a page shows it."""
    if key == "form":
        return FORM_LABELS.get(str(value), str(value))
    if key == "looked_up":
        return "是" if value else "否"
    if value is None or value == "":
        return "—"
    return str(value)


def diff(before: MaterialList, after: MaterialList) -> Diff:
    """Compare two lists by material id."""
    old, new = {m["id"]: m for m in before}, {m["id"]: m for m in after}
    changed = []
    for material in after:
        previous = old.get(material["id"])
        if previous is None:
            continue
        fields = [
            FieldChange(label, shown(key, previous.get(key)), shown(key, material.get(key)))
            for key, label in FIELD_LABELS.items()
            if key != "id" and previous.get(key) != material.get(key)
        ]
        if fields:
            changed.append((material, fields))
    common_before = [m["id"] for m in before if m["id"] in new]
    common_after = [m["id"] for m in after if m["id"] in old]
    return Diff(
        added=[m for m in after if m["id"] not in old],
        removed=[m for m in before if m["id"] not in new],
        changed=changed,
        reordered=common_before != common_after,
    )
