"""The catalog: the shipped file meets the centre's facts; broken files fail naming file, item and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from backend.catalog.loader import DEFAULT_PATH, ITEM_IDS_BY_DEPARTMENT, CatalogError, load_catalog
from backend.catalog.schema import Catalog, ProcessingKind


def test_the_25_fixed_ids_each_in_its_department(catalog: Catalog) -> None:
    expected = {item_id: dept.value for dept, ids in ITEM_IDS_BY_DEPARTMENT.items() for item_id in ids}
    assert len(expected) == 25
    assert {item.id: item.department.value for item in catalog.items} == expected


def test_exactly_twelve_immediate_items(catalog: Catalog) -> None:
    immediate = [item.id for item in catalog.items if item.immediate]
    assert len(immediate) == 12, immediate  # 即办率 48% of 25 items


def test_id_only_items_include_birth_registration_and_elderly_card(catalog: Catalog) -> None:
    id_only = {item.id for item in catalog.items if item.id_only}
    assert len(id_only) >= 5
    assert {"birth_registration", "elderly_preferential_card"} <= id_only


def test_residents_names_are_aliases(catalog: Catalog) -> None:
    transit = next(i for i in catalog.items if i.id == "senior_transit_card")
    assert {"老年卡", "长者卡", "敬老卡"} <= set(transit.aliases)
    every_alias = [alias for item in catalog.items for alias in item.aliases]
    assert len(every_alias) == len(set(every_alias)), "an alias may point at one item only"


def test_every_item_states_the_six_guide_elements_and_its_processing(catalog: Catalog) -> None:
    for item in catalog.items:
        guide = item.guide
        assert all([guide.scope, guide.accepting_body, guide.deciding_body, guide.time_limit, guide.fee_basis]), item.id
        assert item.materials, item.id  # 申请材料目录
        if item.processing.kind is ProcessingKind.PROMISED:
            assert item.processing.working_days >= 1
            assert str(item.processing.working_days) in guide.time_limit, item.id


def test_proxy_filing_needs_power_of_attorney_and_proxy_id(catalog: Catalog) -> None:
    for item in catalog.items:
        proxy_materials = {m.name for m in item.materials if m.condition == "proxy"}
        assert any("委托" in name for name in proxy_materials), item.id
        assert any("代办人" in name and "身份证" in name for name in proxy_materials), item.id


def test_age_rules_where_age_decides(catalog: Catalog) -> None:
    rules = {item.id: [r for r in item.eligibility if r.kind == "age"] for item in catalog.items}
    assert rules["elderly_preferential_card"][0].min_years == 60
    assert rules["senior_transit_card"][0].min_years == 60


# ---- broken files --------------------------------------------------------------------------------------


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    mutate(raw)
    path = tmp_path / "items.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _item(raw: dict, item_id: str) -> dict:
    return next(entry for entry in raw["items"] if entry["id"] == item_id)


@pytest.mark.parametrize(
    ("mutate", "fragments"),
    [
        (
            lambda raw: _item(raw, "birth_registration").pop("guide"),
            ["'birth_registration'", "'guide'", "Field required"],
        ),
        (lambda raw: _item(raw, "residence_permit").update(department="交通"), ["'residence_permit'", "'department'"]),
        (
            lambda raw: _item(raw, "minimum_living_allowance")["processing"].update(working_days=0),
            ["'minimum_living_allowance'", "'processing'", "working_days"],
        ),
        (
            lambda raw: _item(raw, "disability_certificate")["materials"][0].update(form="photocopy"),
            ["'disability_certificate'", "'materials.0.form'"],
        ),
        (lambda raw: _item(raw, "assistive_device").update(colour="red"), ["'assistive_device'", "'colour'"]),
        (
            lambda raw: _item(raw, "home_care_subsidy")["materials"][0].update(condition="on_tuesdays"),
            ["'home_care_subsidy'", "on_tuesdays"],
        ),
        (lambda raw: raw["items"].pop(), ["missing", "residence_permit_renewal"]),
        (lambda raw: raw["items"].append(dict(raw["items"][0])), ["'medical_insurance_enrollment'", "twice"]),
        (lambda raw: _item(raw, "social_security_card").update(id="citizen_card"), ["'citizen_card'", "25 item ids"]),
        (
            lambda raw: _item(raw, "social_security_card").update(department="医保"),
            ["'social_security_card'", "'department'", "社保"],
        ),
    ],
    ids=[
        "missing-guide",
        "bad-department",
        "promised-without-days",
        "bad-form",
        "unknown-field",
        "unknown-condition",
        "missing-item",
        "duplicate-item",
        "unknown-id",
        "wrong-department",
    ],
)
def test_broken_file_names_file_item_and_field(tmp_path: Path, mutate, fragments: list[str]) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def test_unreadable_and_non_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "nowhere.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text("items: [unclosed", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(broken)
    empty = tmp_path / "empty.yml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(CatalogError, match=str(empty)):
        load_catalog(empty)
