"""Class mapping: source class names -> taxonomy class names (or `ignore`), loaded from a YAML file.

```yaml
mapping:
  car: vehicle
  street stall: out_of_store_vending
  person: ignore
```
Names are matched exactly, then ignoring case, spaces, hyphens and underscores. A source name that
already is a taxonomy name maps to itself unless the file says otherwise.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError

from datasets.records import ImageRecord
from detector.errors import ConfigError, InputError
from detector.taxonomy import Taxonomy

IGNORE = "ignore"


def normalize_name(name: str) -> str:
    return re.sub(r"[\s_\-]+", "_", name.strip().lower())


class ClassMapping(BaseModel):
    """Which taxonomy class each source class becomes."""

    mapping: dict[str, str] = Field(
        default_factory=dict,
        description="Source class name -> taxonomy class name, or `ignore` to drop its boxes.",
    )

    def lookup(self, taxonomy: Taxonomy) -> dict[str, str]:
        """Normalised source name -> target, with taxonomy names mapping to themselves by default."""
        table = {normalize_name(n): n for n in taxonomy.model_names}
        explicit: dict[str, str] = {}
        for source, target in self.mapping.items():
            key = normalize_name(source)
            if key in explicit and explicit[key] != target:
                raise ConfigError(
                    f"{source!r} and another name differ only in case/spacing but map differently"
                )
            explicit[key] = target
        table.update(explicit)
        return table


def load_mapping(path: str | Path | None, taxonomy: Taxonomy) -> ClassMapping:
    """Read and validate a mapping file (targets must be taxonomy names or `ignore`); None -> identity."""
    if path is None:
        return ClassMapping()
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read mapping file: {exc.strerror}", file) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML: {str(exc).splitlines()[0]}", file) from exc
    if isinstance(data, dict) and "mapping" not in data:
        data = {"mapping": data}  # a bare `source: target` table is accepted too
    try:
        mapping = ClassMapping.model_validate(data or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            f"{loc}: {err['msg']} (expected `mapping: {{source name: taxonomy name}}`)", file
        ) from exc
    allowed = set(taxonomy.model_names) | {IGNORE}
    for source, target in mapping.mapping.items():
        if target not in allowed:
            raise ConfigError(
                f"{source!r} maps to {target!r}, which is not a taxonomy class; use one of "
                f"{', '.join(taxonomy.model_names)} or `{IGNORE}`",
                file,
            )
    return mapping


@dataclass
class MappingOutcome:
    """What the mapping did: records now carry taxonomy names."""

    records: list[ImageRecord]
    mapped: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(source name, taxonomy name) -> boxes."""
    ignored: Counter[str] = field(default_factory=Counter)
    unmapped: Counter[str] = field(default_factory=Counter)
    """Source names with no mapping -> boxes (dropped only with `drop_unmapped`)."""


def apply_mapping(
    records: list[ImageRecord],
    mapping: ClassMapping,
    taxonomy: Taxonomy,
    drop_unmapped: bool = False,
    source: str = "",
) -> MappingOutcome:
    """Rewrite box labels to taxonomy names. Unmapped names raise an error listing them all (with box
    counts) unless `drop_unmapped`, in which case their boxes are dropped and counted."""
    table = mapping.lookup(taxonomy)
    outcome = MappingOutcome(records=records)
    for record in records:
        for box in record.boxes:
            target = table.get(normalize_name(box.label))
            if target is None:
                outcome.unmapped[box.label] += 1
    if outcome.unmapped and not drop_unmapped:
        listing = ", ".join(f"{name!r} ({n} boxes)" for name, n in outcome.unmapped.most_common())
        raise InputError(
            f"class names not in the mapping: {listing}; add them to the mapping file "
            f"(a taxonomy class or `{IGNORE}`) or pass --drop-unmapped",
            source or None,
        )
    for record in records:
        kept = []
        for box in record.boxes:
            target = table.get(normalize_name(box.label))
            if target is None:
                continue
            if target == IGNORE:
                outcome.ignored[box.label] += 1
                continue
            outcome.mapped[(box.label, target)] += 1
            box.label = target
            kept.append(box)
        record.boxes = kept
    return outcome
