"""The names residents may use for each item, read from the catalog file (no backend import: Rasa runs on 3.10)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CATALOG_PATH = PROJECT_ROOT / "backend" / "catalog" / "items.yml"


@dataclass(frozen=True)
class ItemNames:
    """An item's id, department, official name and aliases."""

    id: str
    department: str
    name: str
    aliases: tuple[str, ...]

    @property
    def all_names(self) -> tuple[str, ...]:
        """The official name first, then the aliases."""
        return (self.name, *self.aliases)


def load_item_names(path: Path = CATALOG_PATH) -> list[ItemNames]:
    """Names of every item in catalog order (the backend validates the file; this only reads it)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        ItemNames(entry["id"], entry["department"], entry["name"], tuple(entry.get("aliases") or ()))
        for entry in raw["items"]
    ]
