"""Admins' edits of the catalog's material lists (申请材料目录): each item's list as the database has it, the edits
made, and saving an edit or restoring an earlier version (as a new edit).

An edit is stored by `backend.catalog.store.save_edit` in one transaction: checked by the catalog's schema, refused
when unchanged, without a reason or made on a stale version, audited. ``items.yml`` stays the base; the version of an
item's list is the number of edits it has had (0: items.yml's list).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from backend.catalog import store
from backend.catalog.edits import MaterialList, dump_materials
from backend.catalog.schema import Catalog, Item
from backend.db import Database
from backend.models import CatalogEdit


class UnknownVersion(Exception):
    """A restore named a version the item never had."""


@dataclass(frozen=True)
class ItemLists:
    """An item's list as the database has it now (not a worker's copy), its version, and its edits newest first."""

    materials: MaterialList
    version: int
    edits: list[CatalogEdit]


async def item_lists(db: Database, item: Item) -> ItemLists:
    """The item's current list, version and edits."""
    async with db.read() as session:
        edits = await store.history(session, item.id)
    if edits:
        return ItemLists(list(edits[0].after), edits[0].version, edits)
    return ItemLists(dump_materials(item.materials), 0, [])


async def overview(db: Database, *, recent: int = 20) -> tuple[dict[str, CatalogEdit], list[CatalogEdit]]:
    """(each edited item's latest edit, the ``recent`` latest edits of all items, newest first)."""
    async with db.read() as session:
        newest = select(func.max(CatalogEdit.id)).group_by(CatalogEdit.item_id)
        latest = {
            e.item_id: e
            for e in (await session.execute(select(CatalogEdit).where(CatalogEdit.id.in_(newest)))).scalars()
        }
        return latest, await store.history(session, limit=recent)


async def save(
    db: Database, base: Catalog, item_id: str, materials: MaterialList, *, actor: str, note: str, expected_version: int
) -> store.Saved:
    """Store ``materials`` as the item's list on top of ``expected_version``; `backend.catalog.edits.EditRefused`
    (`store.StaleEdit` for a stale version) when refused."""
    return await store.save_edit(
        db, base, item_id, materials, actor=actor, note=note, expected_version=expected_version
    )


async def restore(
    db: Database, base: Catalog, item: Item, target: int, *, actor: str, note: str, expected_version: int
) -> store.Saved:
    """Bring back the list of version ``target`` (an edit's id, or `store.YAML_VERSION`) as a new edit;
    `UnknownVersion`, or refused as `save`."""
    edits = (await item_lists(db, item)).edits
    materials = store.version_list(base, item.id, edits, target)
    if materials is None:
        raise UnknownVersion(target)
    return await store.save_edit(
        db, base, item.id, materials, actor=actor, note=note, expected_version=expected_version, restored_from=target
    )
