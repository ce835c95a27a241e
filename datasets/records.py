"""The one record type every dataset importer produces: an image, its size and its boxes in pixels.

Importers convert their format into `ImageRecord`s; the class mapping rewrites box labels from source
names to taxonomy names; the writer turns records into an ultralytics dataset. Nothing downstream of
an importer knows which format a record came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)
class BoxRecord:
    """One axis-aligned box in pixels (origin top-left, x right, y down) with its class name.

    Coordinates are kept exactly as the source gave them (no clipping): `dataset check` reports boxes
    outside the image or of zero area instead of fixing them silently.
    """

    label: str
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1


@dataclass(slots=True)
class ImageRecord:
    """One image of a dataset with all its boxes."""

    image: Path
    """Where the image file is now."""
    name: str
    """Path of the image relative to its source root (posix); names the output file and feeds groups."""
    width: int
    height: int
    boxes: list[BoxRecord] = field(default_factory=list)
    group: str | None = None
    """Source video, route or day the frame belongs to, when the source says so; frames of one group
    never land on both sides of a split."""
    labelled: bool = True
    """False when the source has no annotation at all for the image (not the same as "no objects")."""
    source: str = ""
    """Annotation file (and element) the record came from, for messages."""


@dataclass(slots=True)
class SourceDataset:
    """Everything an importer read from one source."""

    format: str
    records: list[ImageRecord]
    declared_classes: list[str] = field(default_factory=list)
    """Class names the source declares (also those no box uses)."""
    warnings: list[str] = field(default_factory=list)
    missing_images: list[str] = field(default_factory=list)
    """`annotation file: image reference` for images that were referenced but not found or unreadable."""
