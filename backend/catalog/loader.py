"""Load and validate the catalog data file; a bad file fails naming the file, the item and the field."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from backend.catalog.schema import Catalog, Department, Item

logger = logging.getLogger(__name__)

DEFAULT_PATH = Path(__file__).with_name("items.yml")

# The item ids are a fixed contract (DESIGN.md): other tools and checks rely on them.
ITEM_IDS_BY_DEPARTMENT: dict[Department, tuple[str, ...]] = {
    Department.MEDICAL_INSURANCE: (
        "medical_insurance_enrollment",
        "medical_record_book",
        "medical_offsite_filing",
        "chronic_disease_certification",
    ),
    Department.SOCIAL_SECURITY: (
        "pension_enrollment",
        "pension_certification",
        "social_security_card",
        "unemployment_registration",
        "employment_certificate",
    ),
    Department.HEALTH: ("birth_registration", "only_child_certificate", "family_planning_special_support"),
    Department.CIVIL_AFFAIRS: (
        "elderly_preferential_card",
        "senior_transit_card",
        "longevity_allowance",
        "minimum_living_allowance",
        "temporary_assistance",
        "home_care_subsidy",
    ),
    Department.DISABLED_PERSONS: (
        "disability_certificate",
        "disability_living_subsidy",
        "disability_care_subsidy",
        "assistive_device",
    ),
    Department.PUBLIC_SECURITY: ("residence_registration", "residence_permit", "residence_permit_renewal"),
}


class CatalogError(ValueError):
    """The catalog file is missing, unreadable or invalid; the message names file, item and field."""


def _where(raw: Any, loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic error location into "item 'x' field 'a.b'" using the item's id where it has one."""
    if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
        index = loc[1]
        item_id = None
        if isinstance(raw, dict) and isinstance(raw.get("items"), list) and index < len(raw["items"]):
            entry = raw["items"][index]
            item_id = entry.get("id") if isinstance(entry, dict) else None
        label = f"item {item_id!r}" if item_id else f"item #{index + 1}"
        field = ".".join(str(part) for part in loc[2:]) or "(whole item)"
        return f"{label} field {field!r}"
    return f"field {'.'.join(str(part) for part in loc) or '(top level)'!r}"


def _check_contract(catalog: Catalog, path: Path) -> None:
    """Every fixed id present exactly once, in its department, and nothing else."""
    seen: dict[str, Item] = {}
    for item in catalog.items:
        if item.id in seen:
            raise CatalogError(f"{path}: item {item.id!r} field 'id': listed twice")
        seen[item.id] = item
    expected = {item_id: dept for dept, ids in ITEM_IDS_BY_DEPARTMENT.items() for item_id in ids}
    for item_id, item in seen.items():
        if item_id not in expected:
            raise CatalogError(f"{path}: item {item_id!r} field 'id': not one of the centre's 25 item ids")
        if item.department is not expected[item_id]:
            raise CatalogError(
                f"{path}: item {item_id!r} field 'department': is {item.department.value}, "
                f"must be {expected[item_id].value}"
            )
    missing = sorted(set(expected) - set(seen))
    if missing:
        raise CatalogError(f"{path}: items missing: {', '.join(missing)}")


def load_catalog(path: Path | str = DEFAULT_PATH) -> Catalog:
    """Read, validate and return the catalog at ``path``; raise CatalogError naming file, item and field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the catalog: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from exc
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise CatalogError(f"{path}: {_where(raw, tuple(first['loc']))}: {first['msg']}{more}") from exc
    _check_contract(catalog, path)
    logger.info("catalog loaded from %s: %d items", path, len(catalog.items))
    return catalog


@functools.lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The catalog shipped with the project, loaded once per process."""
    return load_catalog(DEFAULT_PATH)
