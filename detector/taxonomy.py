"""Load the class taxonomy (classes, matter codes, deadlines) from `taxonomy.yaml` or a city's own file.

A city points StreetWatch at its own file with `load_taxonomy(path)`, the `--taxonomy` options, or the
`STREETWATCH_TAXONOMY` environment variable (read by `default_taxonomy()`). Every problem in the file is
reported as one `TaxonomyError` line naming the file and the field.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from detector.errors import ConfigError

DEFAULT_TAXONOMY_PATH = Path(__file__).with_name("taxonomy.yaml")
TAXONOMY_ENV = "STREETWATCH_TAXONOMY"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class TaxonomyError(ConfigError, ValueError):
    """A taxonomy file that cannot be used (also a ValueError, as the first version raised)."""


class ClassSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Machine name of the class, as the model and the case store use it.")
    id: int = Field(
        ge=0, description="Order of the class: the model's outputs are the detected classes in id order."
    )
    zh: str = Field(description="Chinese name shown to inspectors.")
    en: str = Field(description="English name shown to inspectors.")
    matter_code: str | None = Field(description="City-management matter code the case is filed under.")
    legacy_code: str | None = Field(default=None, description="Matter code in pre-2026 systems.")
    violation: bool = Field(description="False for context classes that only rules can turn into a case.")
    detected: bool = Field(
        default=True,
        description="False for a case type that only a rule produces (non_motor_parking from a two_wheeler "
        "in a zone): the model has no output for it.",
    )
    severity: int = Field(default=1, ge=0, description="Higher is more urgent in the review queue.")
    default_deadline_hours: float | None = Field(
        default=None, gt=0, description="Handling limit when no area class is known."
    )
    deadline_hours: dict[str, float] = Field(
        default_factory=dict, description="Handling limit in hours per area class (A/B/C)."
    )
    color: str = Field(default="#888888", description="Colour used for this class on maps and boxes.")

    @field_validator("name")
    @classmethod
    def _machine_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} must be lower_snake_case (a-z, 0-9, _), starting with a letter")
        return value

    @field_validator("color")
    @classmethod
    def _hex_color(cls, value: str) -> str:
        if not _COLOR.match(value):
            raise ValueError(f"{value!r} must be a #rrggbb colour")
        return value

    @field_validator("deadline_hours")
    @classmethod
    def _positive_deadlines(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if v <= 0}
        if bad:
            raise ValueError(f"deadlines must be > 0 hours, got {bad}")
        return value

    @model_validator(mode="after")
    def _violations_have_codes(self) -> ClassSpec:
        if self.violation and not self.matter_code:
            raise ValueError(f"{self.name}: a violation class needs a matter_code (cases are filed under it)")
        return self

    def deadline_for(self, area_class: str | None) -> float | None:
        if area_class and area_class in self.deadline_hours:
            return self.deadline_hours[area_class]
        return self.default_deadline_hours


class Taxonomy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(description="Version of this taxonomy file.")
    classes: list[ClassSpec] = Field(min_length=1, description="All classes, in model output order.")

    @property
    def names(self) -> list[str]:
        return [c.name for c in sorted(self.classes, key=lambda c: c.id)]

    @property
    def model_names(self) -> list[str]:
        """The model's output classes, in order: every class but the rule-only ones, by id."""
        return [c.name for c in sorted(self.classes, key=lambda c: c.id) if c.detected]

    @property
    def violation_classes(self) -> list[ClassSpec]:
        """Classes that open a case by themselves (not context classes like `vehicle`), by id."""
        return [c for c in sorted(self.classes, key=lambda c: c.id) if c.violation]

    def by_name(self, name: str) -> ClassSpec:
        for spec in self.classes:
            if spec.name == name:
                return spec
        raise KeyError(f"unknown class {name!r}; known: {', '.join(self.names)}")

    def by_id(self, class_id: int) -> ClassSpec:
        for spec in self.classes:
            if spec.id == class_id:
                return spec
        raise KeyError(f"unknown class id {class_id}; ids are 0..{len(self.classes) - 1}")

    def by_code(self, matter_code: str) -> ClassSpec:
        for spec in self.classes:
            if spec.matter_code == matter_code:
                return spec
        raise KeyError(f"unknown matter code {matter_code!r}")


def _first_error(exc: ValidationError, data: object) -> str:
    err = exc.errors()[0]
    loc = list(err["loc"])
    where = []
    for i, part in enumerate(loc):
        if part == "classes" and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            try:
                name = data["classes"][loc[i + 1]].get("name")  # type: ignore[index]
            except (KeyError, IndexError, TypeError, AttributeError):
                name = None
            where.append(f"classes[{loc[i + 1]}]" + (f" ({name})" if name else ""))
        elif isinstance(part, int) and i > 0 and loc[i - 1] == "classes":
            continue
        else:
            where.append(str(part))
    msg = err["msg"].removeprefix("Value error, ")
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{'.'.join(where) or 'file'}: {msg}{more}"


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read a taxonomy file (defaults to the bundled one); ids must be 0..N-1, names and ids unique.

    Raises `TaxonomyError` (a `ConfigError` and a `ValueError`) naming the file and the field."""
    file = Path(path) if path else DEFAULT_TAXONOMY_PATH
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaxonomyError(f"cannot read taxonomy file: {exc.strerror}", file) from exc
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"malformed YAML: {str(exc).splitlines()[0]}", file) from exc
    if not isinstance(data, dict):
        raise TaxonomyError("expected a mapping with `version` and `classes`", file)
    try:
        taxonomy = Taxonomy.model_validate(data)
    except ValidationError as exc:
        raise TaxonomyError(_first_error(exc, data), file) from exc
    ids = sorted(c.id for c in taxonomy.classes)
    if ids != list(range(len(ids))):
        raise TaxonomyError(f"class ids must be 0..{len(ids) - 1}, each once, got {ids}", file)
    names = [c.name for c in taxonomy.classes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TaxonomyError(f"class names must be unique; repeated: {', '.join(duplicates)}", file)
    return taxonomy


@lru_cache(maxsize=1)
def _cached(path: str) -> Taxonomy:
    return load_taxonomy(path)


def default_taxonomy() -> Taxonomy:
    """The taxonomy in `$STREETWATCH_TAXONOMY` if set, else the bundled file (cached per path)."""
    return _cached(os.environ.get(TAXONOMY_ENV) or str(DEFAULT_TAXONOMY_PATH))


default_taxonomy.cache_clear = _cached.cache_clear  # type: ignore[attr-defined]  # as with lru_cache before
