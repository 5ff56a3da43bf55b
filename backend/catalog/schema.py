"""Schema of the service-item catalog (办事指南): what every item in ``items.yml`` must state.

The catalog is data, not code: the dialogue, the printed receipts and the staff console all read it, so
every resident-facing sentence about an item lives here. The schema is strict (unknown fields are refused)
so a typo in the data file fails at load instead of silently dropping a material.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SNAKE_ID = r"^[a-z][a-z0-9_]*$"


class Department(enum.StrEnum):
    """The six departments whose items the centre handles (后台分类办理)."""

    MEDICAL_INSURANCE = "医保"
    SOCIAL_SECURITY = "社保"
    HEALTH = "卫健"
    CIVIL_AFFAIRS = "民政"
    DISABLED_PERSONS = "残联"
    PUBLIC_SECURITY = "公安"


class ProcessingKind(enum.StrEnum):
    """即办件 are finished on the spot; 承诺件 within a promised number of working days."""

    IMMEDIATE = "immediate"
    PROMISED = "promised"


class DecidedAt(enum.StrEnum):
    """Where the decision is taken: this centre, the street office (街道) or the district (区)."""

    CENTRE = "centre"
    STREET = "street"
    DISTRICT = "district"


class MaterialForm(enum.StrEnum):
    """Whether the resident shows the original, hands in a copy, or both."""

    ORIGINAL = "original"
    COPY = "copy"
    ORIGINAL_AND_COPY = "original_and_copy"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


NonEmpty = Annotated[str, Field(min_length=1)]


class Condition(_Strict):
    """A circumstance under which an item needs an extra material (e.g. filing for someone else).

    ``question`` is how the dialogue asks about it, as a yes/no question to the resident.
    """

    id: Annotated[str, Field(pattern=SNAKE_ID)]
    description: NonEmpty
    question: NonEmpty


class Material(_Strict):
    """One entry of the 申请材料目录."""

    id: Annotated[str, Field(pattern=SNAKE_ID)]
    name: NonEmpty
    form: MaterialForm
    count: Annotated[int, Field(ge=1, le=20)] = 1
    looked_up: bool = False
    """True when the system fetches it from the ID number (data sharing): the resident need not bring it."""
    condition: Annotated[str, Field(pattern=SNAKE_ID)] | None = None
    """Id of a catalog condition; ``None`` means always needed."""
    note: str | None = None


class AgeRule(_Strict):
    """Eligibility by age, computed from the birth date in the resident ID number."""

    kind: Literal["age"]
    min_years: Annotated[int, Field(ge=0, le=150)] | None = None
    max_years: Annotated[int, Field(ge=0, le=150)] | None = None
    message: NonEmpty
    """Said to the resident when the rule fails, e.g. "老年人优待证需年满60周岁。"."""

    @model_validator(mode="after")
    def _bounds(self) -> AgeRule:
        if self.min_years is None and self.max_years is None:
            raise ValueError("age rule needs min_years or max_years")
        if self.min_years is not None and self.max_years is not None and self.min_years > self.max_years:
            raise ValueError("min_years is greater than max_years")
        return self


class Residence(enum.StrEnum):
    """What the resident's 户籍 / residence must be for a residence rule."""

    LOCAL_HUKOU = "local_hukou"
    """户籍在本市 (Hangzhou)."""
    LOCAL_RESIDENT = "local_resident"
    """Lives in the area the centre serves, whatever the 户籍."""
    NON_LOCAL_HUKOU = "non_local_hukou"
    """户籍不在本市 (e.g. 居住证 is only for people away from their 户籍地)."""


class ResidenceRule(_Strict):
    """Eligibility by 户籍 or residence; the dialogue asks ``question`` since the ID number cannot tell."""

    kind: Literal["residence"]
    requires: Residence
    question: NonEmpty
    message: NonEmpty


EligibilityRule = Annotated[AgeRule | ResidenceRule, Field(discriminator="kind")]


class Guide(_Strict):
    """The six elements of the official guide (办事指南). 申请材料目录 is ``Item.materials``."""

    scope: NonEmpty
    """适用范围."""
    accepting_body: NonEmpty
    """受理机构."""
    deciding_body: NonEmpty
    """决定机构."""
    time_limit: NonEmpty
    """办结时限, as said to residents ("当场办结" / "7个工作日")."""
    fee_basis: NonEmpty
    """收费依据及标准."""


class Processing(_Strict):
    """即办 (finished on the spot) or 承诺 within ``working_days`` working days."""

    kind: ProcessingKind
    working_days: Annotated[int, Field(ge=0, le=90)] = 0

    @model_validator(mode="after")
    def _days_match_kind(self) -> Processing:
        if self.kind is ProcessingKind.IMMEDIATE and self.working_days != 0:
            raise ValueError("an immediate item has working_days 0")
        if self.kind is ProcessingKind.PROMISED and self.working_days < 1:
            raise ValueError("a promised item needs working_days of at least 1")
        return self


class Item(_Strict):
    """One service item the centre handles."""

    id: Annotated[str, Field(pattern=SNAKE_ID)]
    department: Department
    name: NonEmpty
    """Official name (the name in the government guide)."""
    aliases: list[NonEmpty] = Field(default_factory=list)
    """Names residents actually use (老年卡, 长者卡, 敬老卡 …)."""
    summary: NonEmpty
    """One plain sentence saying what the item is for, as the bot says it."""
    guide: Guide
    processing: Processing
    decided_at: DecidedAt
    id_only: bool
    """True when the ID card alone is enough (everything else is looked up)."""
    fee_yuan: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    materials: list[Material] = Field(min_length=1)
    eligibility: list[EligibilityRule] = Field(default_factory=list)
    source: str | None = None
    """Where the facts come from (policy document), or a note that national practice was used."""

    @property
    def immediate(self) -> bool:
        """True for 即办件."""
        return self.processing.kind is ProcessingKind.IMMEDIATE

    @field_validator("aliases")
    @classmethod
    def _aliases_unique(cls, aliases: list[str]) -> list[str]:
        if len(set(aliases)) != len(aliases):
            raise ValueError("aliases repeat")
        return aliases

    @model_validator(mode="after")
    def _consistent(self) -> Item:
        ids = [m.id for m in self.materials]
        if len(set(ids)) != len(ids):
            raise ValueError("material ids repeat")
        if self.name in self.aliases:
            raise ValueError("the official name is repeated among the aliases")
        if self.id_only:
            brought = [m.name for m in self.materials if m.condition is None and not m.looked_up]
            if len(brought) != 1:
                raise ValueError(f"an ID-only item needs exactly one unconditional material to bring, has {brought}")
        return self


class Catalog(_Strict):
    """The whole data file: conditions referenced by materials, and the items."""

    centre: NonEmpty
    conditions: list[Condition] = Field(default_factory=list)
    items: list[Item] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Catalog:
        known = {c.id for c in self.conditions}
        for item in self.items:
            for material in item.materials:
                if material.condition is not None and material.condition not in known:
                    raise ValueError(
                        f"item {item.id!r} material {material.id!r}: unknown condition {material.condition!r}"
                    )
        return self
