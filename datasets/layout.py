"""Reading a YOLO dataset folder as `dataset import` writes it (and as ultralytics reads it):
images under `images/`, one `labels/<same path>.txt` per image, class names from `data.yaml` or
`classes.txt` (the taxonomy when the folder has neither)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datasets.importers._common import iter_images
from datasets.importers.yolo import label_path_for, read_class_names
from detector.errors import InputError
from detector.taxonomy import load_taxonomy


@dataclass(frozen=True, slots=True)
class LabelLine:
    """One parsed `class cx cy w h` line (normalised coordinates), or the reason it could not be parsed."""

    line: int
    cls: int | None = None
    cx: float = 0.0
    cy: float = 0.0
    w: float = 0.0
    h: float = 0.0
    error: str | None = None


def image_root(root: Path) -> Path:
    return root / "images" if (root / "images").is_dir() else root


def dataset_images(root: Path) -> list[Path]:
    if not root.is_dir():
        raise InputError("not a folder", root)
    return list(iter_images(image_root(root)))


def label_path(image: Path, root: Path) -> Path:
    return label_path_for(image, root)


def class_names(root: Path, taxonomy_path: str | Path | None = None) -> list[str]:
    """The dataset's own class names; the taxonomy's when it declares none."""
    try:
        names, _ = read_class_names(root)
        return names
    except InputError as exc:
        if "no class names" not in str(exc):
            raise
    return load_taxonomy(taxonomy_path).model_names


def parse_label_text(text: str) -> list[LabelLine]:
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields:
            continue
        if len(fields) != 5:
            lines.append(LabelLine(number, error=f"expected 5 values `class cx cy w h`, got {len(fields)}"))
            continue
        try:
            cls = int(fields[0])
            cx, cy, w, h = (float(v) for v in fields[1:])
        except ValueError:
            lines.append(LabelLine(number, error=f"expected an integer class and 4 numbers: {raw.strip()!r}"))
            continue
        lines.append(LabelLine(number, cls, cx, cy, w, h))
    return lines
