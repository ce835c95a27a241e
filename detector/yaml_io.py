"""Read a YAML configuration file that must hold a mapping, with one-line errors naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from detector.errors import ConfigError


def read_yaml_mapping(file: Path, expected: str = "a mapping at the top level") -> dict[str, Any]:
    """Parse `file` (which must exist) as YAML; an empty file is an empty mapping."""
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML ({exc.__class__.__name__})", file) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"expected {expected}", file)
    return data
