"""Python values as the store's columns keep them (aware UTC datetimes and JSON-storable values), and
table rows as the domain types (serve.store.types)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")


def utc(value: datetime | None) -> datetime | None:
    """`value` as an aware UTC datetime (a naive one is taken to be UTC already)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def from_row(model: type[M], row: Any, **values: Any) -> M:
    """A `model` from a table row: every field the row has an attribute of the same name for takes that
    attribute's value (a datetime as aware UTC); `values` fill the other fields and take the place of the
    row's where both name one."""
    for name in model.model_fields.keys() - values.keys():
        if hasattr(row, name):
            value = getattr(row, name)
            values[name] = utc(value) if isinstance(value, datetime) else value
    return model(**values)


def jsonable(value: Any) -> Any:
    """Make values JSON-storable (datetimes to ISO 8601, tuples to lists, sets sorted)."""
    return json.loads(to_json(value))


def to_json(value: Any) -> str:
    """`value` as JSON text, by `jsonable`'s rules."""
    return json.dumps(value, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
