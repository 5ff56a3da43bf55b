"""A resident's personal material checklist for one item: what is needed, what the system looks up, what is missing."""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from backend.catalog.schema import Item, Material


class Need(enum.StrEnum):
    """Where one material of the checklist stands."""

    RECEIVED = "received"
    MISSING = "missing"
    LOOKED_UP = "looked_up"


@dataclass(frozen=True)
class ChecklistEntry:
    """One required material and its state for this resident."""

    material: Material
    need: Need


class UnknownMaterial(ValueError):
    """A material id that the item does not list."""

    def __init__(self, item_id: str, material_ids: Iterable[str]) -> None:
        self.item_id = item_id
        self.material_ids = sorted(material_ids)
        super().__init__(f"{item_id}: unknown materials {self.material_ids}")


def required_materials(item: Item, conditions: Collection[str]) -> list[Material]:
    """Materials needed when the conditions in ``conditions`` hold (unconditional ones always)."""
    return [m for m in item.materials if m.condition is None or m.condition in conditions]


def build_checklist(item: Item, conditions: Collection[str], received: Collection[str]) -> list[ChecklistEntry]:
    """The checklist in catalog order; raises UnknownMaterial for ids the item does not have."""
    unknown = set(received) - {m.id for m in item.materials}
    if unknown:
        raise UnknownMaterial(item.id, unknown)
    entries = []
    for material in required_materials(item, conditions):
        if material.looked_up:
            need = Need.LOOKED_UP
        elif material.id in received:
            need = Need.RECEIVED
        else:
            need = Need.MISSING
        entries.append(ChecklistEntry(material, need))
    return entries
