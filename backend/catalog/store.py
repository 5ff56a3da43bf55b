"""Catalog edits in the database (``catalog_edits``), and every worker's ``app.ctx.catalog`` kept up to date.

Each worker holds the effective catalog (``items.yml`` with each item's latest edit, `backend.catalog.edits`) on
``app.ctx.catalog``, built when the worker starts. Before a request, at most once per `REFRESH_INTERVAL_S`, it asks
the database for the edits' version, ``(count, highest id)``, and rebuilds the catalog when that differs from the one
it built from. The count matters: with concurrent edits of two items, ids are handed out before commit, so a smaller
id can commit after a larger one; rows are never deleted, so every commit changes the count. A worker that saves an
edit rebuilds at once; the others follow within the interval. Cases are not affected: a case copies its checklist
into ``case_materials`` when it is filed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sanic import Request, Sanic
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.catalog.edits import (
    EditRefused,
    MaterialList,
    apply_edits,
    check_edit,
    diff,
    dump_materials,
    find,
    normalised,
)
from backend.catalog.schema import Catalog
from backend.db import Database
from backend.models import CatalogEdit
from backend.services import audit

logger = logging.getLogger(__name__)

REFRESH_INTERVAL_S = 1.0
"""How often (at most) a worker asks the database whether the catalog changed, in seconds."""
MAX_NOTE = 500
YAML_VERSION = 0
"""``restored_from`` of a restore that brought back the list in ``items.yml``."""

Version = tuple[int, int]
"""(number of edits, highest edit id): changes with every committed edit."""


class StaleEdit(EditRefused):
    """Another admin changed the item's list since this admin's form was drawn."""


# --- reading -------------------------------------------------------------------------------------------------------
async def current_version(session: AsyncSession) -> Version:
    """The edits' version; one cheap aggregate over a small table."""
    count, highest = (await session.execute(select(func.count(CatalogEdit.id), func.max(CatalogEdit.id)))).one()
    return int(count), int(highest or 0)


async def latest_lists(session: AsyncSession) -> dict[str, MaterialList]:
    """Each edited item's latest list."""
    newest = select(CatalogEdit.item_id, func.max(CatalogEdit.version).label("version")).group_by(CatalogEdit.item_id)
    newest_sub = newest.subquery()
    rows = await session.execute(
        select(CatalogEdit.item_id, CatalogEdit.after).join(
            newest_sub,
            (CatalogEdit.item_id == newest_sub.c.item_id) & (CatalogEdit.version == newest_sub.c.version),
        )
    )
    return {item_id: list(after) for item_id, after in rows}


async def latest_edit(session: AsyncSession, item_id: str) -> CatalogEdit | None:
    """The item's latest edit, or None while it has items.yml's list."""
    statement = select(CatalogEdit).where(CatalogEdit.item_id == item_id).order_by(CatalogEdit.version.desc())
    return (await session.execute(statement.limit(1))).scalar_one_or_none()


async def history(session: AsyncSession, item_id: str | None = None, *, limit: int = 200) -> list[CatalogEdit]:
    """Edits newest first, of one item or of all."""
    statement = select(CatalogEdit).order_by(CatalogEdit.id.desc()).limit(limit)
    if item_id is not None:
        statement = statement.where(CatalogEdit.item_id == item_id)
    return list((await session.execute(statement)).scalars())


async def load_effective(db: Database, base: Catalog) -> tuple[Catalog, Version]:
    """The effective catalog and the version it was built from (read first: a newer list only causes a reload)."""
    async with db.read() as session:
        version = await current_version(session)
        lists = await latest_lists(session)
    return apply_edits(base, lists), version


# --- writing -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Saved:
    """A stored edit and what it changed."""

    edit_id: int
    version: int


async def save_edit(
    db: Database,
    base: Catalog,
    item_id: str,
    materials: MaterialList,
    *,
    actor: str,
    note: str,
    expected_version: int,
    restored_from: int | None = None,
) -> Saved:
    """Store ``materials`` as the item's list, on top of ``expected_version`` (the version the admin's form showed);
    refuses (EditRefused, nothing stored) an invalid list, an unchanged one, a missing note or a stale form."""
    note = note.strip()
    if not note:
        raise EditRefused("请写明修改原因（例如依据的文件或通知）。")
    if len(note) > MAX_NOTE:
        raise EditRefused(f"修改原因太长了，最多 {MAX_NOTE} 个字。")
    item = find(base, item_id)
    if item is None:
        raise EditRefused(f"没有办理事项“{item_id}”。")
    after = normalised(check_edit(base, item_id, materials), item_id)
    stale = StaleEdit("这个事项的材料目录刚被其他管理员修改过，请查看最新内容后重新修改。")
    try:
        async with db.write() as session:
            latest = await latest_edit(session, item_id)
            version = latest.version if latest else 0
            if version != expected_version:
                raise stale
            before = list(latest.after) if latest else dump_materials(item.materials)
            change = diff(before, after)
            if change.empty:
                raise EditRefused("材料目录与当前内容相同，没有保存。")
            edit = CatalogEdit(
                item_id=item_id,
                version=version + 1,
                actor=actor,
                note=note,
                before=before,
                after=after,
                restored_from=restored_from,
            )
            session.add(edit)
            await session.flush()
            audit.record(
                session,
                actor,
                "catalog.restore" if restored_from is not None else "catalog.edit",
                "item",
                item_id[:32],
                change=edit.id,
                version=edit.version,
                note=note,
                restored_from=restored_from,
                reordered=change.reordered,
                **change.summary(),
            )
            saved = Saved(edit.id, edit.version)
    except IntegrityError:  # the same version saved at the same moment by another admin
        raise stale from None
    logger.info("catalog: %s changed %s (change %d)", actor, item_id, saved.edit_id)
    return saved


def version_list(base: Catalog, item_id: str, edits: Sequence[CatalogEdit], version_id: int) -> MaterialList | None:
    """The list of one version: an edit's list after it, or items.yml's (`YAML_VERSION`); None if unknown."""
    if version_id == YAML_VERSION:
        item = find(base, item_id)
        return dump_materials(item.materials) if item else None
    return next((list(edit.after) for edit in edits if edit.id == version_id), None)


# --- every worker's catalog ----------------------------------------------------------------------------------------
class LiveCatalog:
    """A worker's effective catalog on ``app.ctx.catalog`` and the version it was built from."""

    def __init__(self, base: Catalog, interval: float = REFRESH_INTERVAL_S) -> None:
        self.base = base
        self.interval = interval
        """Seconds between two checks of the database (tests shorten it)."""
        self.version: Version | None = None
        self.checked_at = float("-inf")
        self._failing = False

    async def refresh(self, app: Sanic) -> None:
        """Rebuild now (after this worker saved an edit, or when the version changed)."""
        catalog, version = await load_effective(app.ctx.db, self.base)
        app.ctx.catalog, self.version = catalog, version
        self.checked_at = time.monotonic()
        logger.info("catalog: %d edits applied (last change %d)", version[0], version[1])

    async def check(self, app: Sanic) -> None:
        """Rebuild if the interval has passed and the database's version differs; a database error keeps the
        catalog the worker has (the request goes on and meets the error itself if it needs the database)."""
        now = time.monotonic()
        if now - self.checked_at < self.interval or not hasattr(app.ctx, "db"):
            return
        self.checked_at = now  # set before awaiting: concurrent requests do not check too
        try:
            async with app.ctx.db.read() as session:
                version = await current_version(session)
            if version != self.version:
                await self.refresh(app)
            self._failing = False
        except (SQLAlchemyError, OSError) as exc:
            if not self._failing:
                logger.warning("catalog: cannot check for edits, keeping the current catalog: %s", type(exc).__name__)
            self._failing = True


def install(app: Sanic) -> LiveCatalog:
    """Make ``app.ctx.catalog`` (the base when called) the effective catalog: built when the server starts (call
    this after the listener that opens the database), checked before each request."""
    live = LiveCatalog(app.ctx.catalog)
    app.ctx.base_catalog = live.base
    app.ctx.live_catalog = live

    @app.before_server_start
    async def load_catalog_edits(app: Sanic) -> None:
        await live.check(app)

    @app.on_request
    async def refresh_catalog(request: Request) -> None:
        await live.check(request.app)

    return live
