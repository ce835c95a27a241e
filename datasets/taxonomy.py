"""Load the class taxonomy (classes, matter codes, deadlines) from `taxonomy.yaml` or a city's own file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

DEFAULT_TAXONOMY_PATH = Path(__file__).with_name("taxonomy.yaml")


class ClassSpec(BaseModel):
    name: str = Field(description="Machine name of the class, as the model and the case store use it.")
    id: int = Field(description="Class index in the default model's output.")
    zh: str = Field(description="Chinese name shown to inspectors.")
    en: str = Field(description="English name shown to inspectors.")
    matter_code: str | None = Field(description="City-management matter code the case is filed under.")
    legacy_code: str | None = Field(default=None, description="Matter code in pre-2026 systems.")
    violation: bool = Field(description="False for context classes that only rules can turn into a case.")
    severity: int = Field(default=1, description="Higher is more urgent in the review queue.")
    default_deadline_hours: float | None = Field(
        default=None, description="Handling limit when no area class is known."
    )
    deadline_hours: dict[str, float] = Field(
        default_factory=dict, description="Handling limit in hours per area class (A/B/C)."
    )
    color: str = Field(default="#888888", description="Colour used for this class on maps and boxes.")

    def deadline_for(self, area_class: str | None) -> float | None:
        if area_class and area_class in self.deadline_hours:
            return self.deadline_hours[area_class]
        return self.default_deadline_hours


class Taxonomy(BaseModel):
    version: str = Field(description="Version of this taxonomy file.")
    classes: list[ClassSpec] = Field(description="All classes, in model output order.")

    @property
    def names(self) -> list[str]:
        return [c.name for c in sorted(self.classes, key=lambda c: c.id)]

    def by_name(self, name: str) -> ClassSpec:
        for spec in self.classes:
            if spec.name == name:
                return spec
        raise KeyError(f"unknown class {name!r}; known: {', '.join(self.names)}")

    def by_code(self, matter_code: str) -> ClassSpec:
        for spec in self.classes:
            if spec.matter_code == matter_code:
                return spec
        raise KeyError(f"unknown matter code {matter_code!r}")


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read a taxonomy file (defaults to the bundled one); ids must be 0..N-1 and names unique."""
    file = Path(path) if path else DEFAULT_TAXONOMY_PATH
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    taxonomy = Taxonomy.model_validate(data)
    ids = sorted(c.id for c in taxonomy.classes)
    if ids != list(range(len(ids))):
        raise ValueError(f"{file}: class ids must be 0..{len(ids) - 1}, got {ids}")
    if len(set(taxonomy.names)) != len(taxonomy.names):
        raise ValueError(f"{file}: class names must be unique")
    return taxonomy


@lru_cache(maxsize=1)
def default_taxonomy() -> Taxonomy:
    return load_taxonomy()
