"""An organization's document settings: parties, VAT, currency, price grid, templates, logo.

They live in ``organizations.settings["documents"]`` and are validated here on every read and
write, so a bad value is refused when it is set, with a message naming it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.numbers import is_currency
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from storage.models import Organization

SETTINGS_KEY = "documents"
COMPLEXITIES = ("simple", "intermediate", "expert")
MISSION_TYPES = ("audit", "automation")
DEFAULT_GRID = {"simple": Decimal("150"), "intermediate": Decimal("250"), "expert": Decimal("350")}


class SettingsProblem(ValueError):
    """A document setting is invalid; the message names it."""


class DocumentSettings(BaseModel):
    """What documents need from the organization."""

    model_config = ConfigDict(extra="forbid")

    legal_name: str = ""
    address: str = ""
    registration_number: str = ""
    city: str = ""
    email: str = ""
    phone: str = ""
    vat_rate: Decimal = Field(default=Decimal("20"), ge=0, le=100)
    vat_note: str = ""
    currency: str = "EUR"
    validity_days: int = Field(default=30, ge=1, le=365)
    payment_terms: str = ""
    complexity_prices: dict[str, Decimal] = Field(default_factory=lambda: dict(DEFAULT_GRID))
    template_dir: str | None = None
    logo: str | None = None
    default_workflow_steps: list[str] = Field(default_factory=list, max_length=20)
    default_budget: Decimal | None = Field(default=None, gt=0)
    default_deadline_days: int | None = Field(default=None, ge=1, le=730)
    quote_prefix: str = Field(default="DEV", pattern=r"^[A-Z0-9]{1,8}$")
    contract_prefix: str = Field(default="CTR", pattern=r"^[A-Z0-9]{1,8}$")

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 3 or not is_currency(code):
            raise ValueError(f"unknown currency code {value!r} (a 3-letter ISO code: EUR, XOF, XAF…)")
        return code

    @field_validator("complexity_prices")
    @classmethod
    def _grid(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        missing = [c for c in COMPLEXITIES if c not in value]
        extra = [k for k in value if k not in COMPLEXITIES]
        if missing or extra:
            raise ValueError(f"the grid needs exactly {', '.join(COMPLEXITIES)}")
        if any(v <= 0 for v in value.values()):
            raise ValueError("prices in the grid must be positive")
        return value

    @field_validator("template_dir")
    @classmethod
    def _template_dir(cls, value: str | None) -> str | None:
        if value and not Path(value).is_dir():
            raise ValueError(f"template folder {value!r} does not exist")
        return value or None

    @field_validator("logo")
    @classmethod
    def _logo(cls, value: str | None) -> str | None:
        if value:
            path = Path(value)
            if not path.is_file():
                raise ValueError(f"logo file {value!r} does not exist")
            if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".svg", ".gif", ".webp"):
                raise ValueError("the logo must be a PNG, JPEG, SVG, GIF or WebP image")
        return value or None

    def party_name_for(self, org_name: str) -> str:
        """The legal name, or the organization's name."""
        return self.legal_name or org_name

    def as_json(self) -> dict[str, Any]:
        """JSON-safe form for storage (decimals as strings)."""
        return self.model_dump(mode="json")


def _explain(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = ".".join(str(x) for x in error["loc"]) or "settings"
        parts.append(f"{field}: {str(error['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


def load_settings(org: Organization) -> DocumentSettings:
    """The organization's document settings (defaults for what is not set)."""
    raw = (org.settings or {}).get(SETTINGS_KEY) or {}
    try:
        return DocumentSettings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsProblem(_explain(exc)) from None


def update_settings(org: Organization, changes: dict[str, Any]) -> DocumentSettings:
    """Validate and store changes to the organization's document settings."""
    current = load_settings(org).as_json()
    current.update(changes)
    try:
        fresh = DocumentSettings.model_validate(current)
    except ValidationError as exc:
        raise SettingsProblem(_explain(exc)) from None
    settings = dict(org.settings or {})
    settings[SETTINGS_KEY] = fresh.as_json()
    org.settings = settings  # a new dict, so the JSON column is seen as changed
    return fresh
