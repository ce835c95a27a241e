"""Write records (with taxonomy class names) as one ultralytics-ready dataset folder:

```
DIR/images/<name>        the images (copied, or symlinked with link=True)
DIR/labels/<stem>.txt    YOLO boxes `class cx cy w h`, normalised; empty file = no objects
DIR/classes.txt          taxonomy names in id order
DIR/groups.csv           image,group,source_name: the video/route/day each image belongs to
DIR/data.yaml            train/val = all images, until `dataset split` writes real splits
DIR/import.json          where it came from and what the mapping did
```
Unlabelled images (no annotation at all in the source) get no label file, so `dataset check` lists them.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from datasets.records import ImageRecord
from detector.errors import InputError
from detector.taxonomy import Taxonomy

_UNSAFE = re.compile(r"[^\w.\-]+")


def output_name(name: str) -> str:
    """`route 12/0001.jpg` -> `route_12__0001.jpg`: a flat, shell-safe file name that keeps the folder."""
    parts = [_UNSAFE.sub("_", p) for p in Path(name).parts if p not in ("", ".", "..", "/")]
    return "__".join(parts) or "image"


def _unique_names(records: list[ImageRecord]) -> list[str]:
    """Flat output names, with `-1`, `-2`... added where two images would share a label file."""
    taken: set[str] = set()
    names = []
    for record in records:
        flat = output_name(record.name)
        stem, suffix = os.path.splitext(flat)
        candidate, n = flat, 0
        while (os.path.splitext(candidate)[0]).lower() in taken:
            n += 1
            candidate = f"{stem}-{n}{suffix}"
        taken.add(os.path.splitext(candidate)[0].lower())
        names.append(candidate)
    return names


def label_lines(record: ImageRecord, taxonomy: Taxonomy) -> list[str]:
    """YOLO lines for a record whose labels are taxonomy names (coordinates not clipped)."""
    ids = {name: i for i, name in enumerate(taxonomy.model_names)}
    lines = []
    for box in record.boxes:
        cx = (box.x1 + box.x2) / 2 / record.width
        cy = (box.y1 + box.y2) / 2 / record.height
        w = (box.x2 - box.x1) / record.width
        h = (box.y2 - box.y1) / record.height
        lines.append(f"{ids[box.label]} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return lines


def write_data_yaml(path: Path, names: list[str], splits: dict[str, str], comment: str) -> None:
    """An ultralytics data.yaml without `path:`, so lists and folders resolve next to the file."""
    body = {**splits, "nc": len(names), "names": dict(enumerate(names))}
    text = "".join(f"# {line}\n" for line in comment.splitlines())
    text += yaml.safe_dump(body, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")


def ensure_empty_output(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError("output folder exists and is not empty", out)


def write_dataset(
    records: list[ImageRecord],
    taxonomy: Taxonomy,
    out: str | Path,
    link: bool = False,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write the dataset into `out`, which must not exist or be empty. Returns `out`."""
    out = Path(out)
    ensure_empty_output(out)
    if not records:
        raise InputError("no images to write", out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(exist_ok=True)
    names = _unique_names(records)
    rows = []
    for record, name in tqdm(list(zip(records, names, strict=True)), desc="write", unit="img", disable=None):
        target = out / "images" / name
        if link:
            target.symlink_to(record.image.resolve())
        else:
            shutil.copyfile(record.image, target)
        if record.labelled:
            lines = label_lines(record, taxonomy)
            (out / "labels" / Path(name).with_suffix(".txt").name).write_text(
                "".join(f"{line}\n" for line in lines), encoding="utf-8"
            )
        rows.append({"image": f"images/{name}", "group": record.group or "", "source_name": record.name})
    (out / "classes.txt").write_text("".join(f"{n}\n" for n in taxonomy.model_names), encoding="utf-8")
    with (out / "groups.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["image", "group", "source_name"])
        writer.writeheader()
        writer.writerows(rows)
    write_data_yaml(
        out / "data.yaml",
        taxonomy.model_names,
        {"train": "images", "val": "images"},
        "Written by `streetwatch dataset import`: train and val are all images until\n"
        "`streetwatch dataset split` writes real splits. Class ids follow the taxonomy.",
    )
    if provenance is not None:
        (out / "import.json").write_text(
            json.dumps(provenance, indent=2, ensure_ascii=False), encoding="utf-8"
        )
    return out
