"""YOLO folders: `images/` + `labels/` (ultralytics layout, any sub-folders) or darknet-style images
with a `.txt` beside each, class names from `data.yaml` (`names`), `classes.txt` or `obj.names`.

A `groups.csv` (`image,group`, as `dataset import` writes it) in the folder gives the groups; else an
image's sub-folder (without split folders like `train/`) is its group.
"""

from __future__ import annotations

import csv
from pathlib import Path

import yaml
from tqdm import tqdm

from datasets.importers._common import group_from_name, iter_images, read_image_size
from datasets.records import BoxRecord, ImageRecord, SourceDataset
from detector.errors import InputError


def read_class_names(root: Path) -> tuple[list[str], Path]:
    """Class names in id order, and the file they came from."""
    data_yaml = next(
        (root / n for n in ("data.yaml", "data.yml", "dataset.yaml") if (root / n).is_file()), None
    )
    if data_yaml is not None:
        try:
            data = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InputError(f"malformed YAML: {exc}".splitlines()[0], data_yaml) from exc
        names = data.get("names") if isinstance(data, dict) else None
        if isinstance(names, list):
            return [str(n) for n in names], data_yaml
        if isinstance(names, dict):
            try:
                ids = sorted(int(k) for k in names)
            except ValueError:
                raise InputError("`names` keys must be class ids", data_yaml) from None
            if ids != list(range(len(ids))):
                raise InputError(f"`names` ids must be 0..{len(ids) - 1}, got {ids}", data_yaml)
            by_id = {int(k): str(v) for k, v in names.items()}
            return [by_id[i] for i in ids], data_yaml
    for candidate in ("classes.txt", "obj.names", "labels/classes.txt"):
        path = root / candidate
        if path.is_file():
            names = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
            return [n for n in names if n], path
    raise InputError("no class names: expected data.yaml with `names`, classes.txt or obj.names", root)


def label_path_for(image: Path, root: Path) -> Path:
    """Ultralytics' rule: the last `images` folder becomes `labels` and the suffix `.txt`;
    without an `images` folder, a `.txt` beside the image."""
    rel = image.relative_to(root)
    parts = list(rel.parts)
    if "images" in parts[:-1]:
        i = len(parts) - 2 - parts[:-1][::-1].index("images")
        parts[i] = "labels"
        return (root.joinpath(*parts)).with_suffix(".txt")
    return image.with_suffix(".txt")


def read_groups_csv(root: Path) -> dict[str, str]:
    path = root / "groups.csv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"image", "group"} <= set(reader.fieldnames):
            raise InputError("expected columns `image,group`", path)
        return {row["image"]: row["group"] for row in reader if row.get("group")}


def parse_label_file(path: Path, names: list[str], width: int, height: int) -> list[BoxRecord]:
    """Boxes of one YOLO label file in pixels; polygons (segment labels) become their bounds."""
    boxes = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{number}"
        try:
            cls = int(fields[0])
            values = [float(v) for v in fields[1:]]
        except ValueError:
            raise InputError(f"expected `class cx cy w h` numbers, got {line.strip()!r}", where) from None
        if not 0 <= cls < len(names):
            raise InputError(f"class id {cls} is not one of the {len(names)} class names", where)
        if len(values) == 4:
            cx, cy, w, h = values
            x1, x2 = (cx - w / 2) * width, (cx + w / 2) * width
            y1, y2 = (cy - h / 2) * height, (cy + h / 2) * height
        elif len(values) >= 6 and len(values) % 2 == 0:
            xs, ys = values[0::2], values[1::2]
            x1, x2, y1, y2 = min(xs) * width, max(xs) * width, min(ys) * height, max(ys) * height
        else:
            raise InputError(f"expected 5 values (class cx cy w h), got {len(fields)}", where)
        boxes.append(BoxRecord(names[cls], x1, y1, x2, y2))
    return boxes


def read(src: Path, images_dir: Path | None = None) -> SourceDataset:
    root = src.parent if src.is_file() else src
    if not root.is_dir():
        raise InputError("not a folder or data.yaml", src)
    names, _ = read_class_names(root)
    image_root = images_dir or (root / "images" if (root / "images").is_dir() else root)
    groups = read_groups_csv(root)
    result = SourceDataset(format="yolo", records=[], declared_classes=names)
    images = list(iter_images(image_root))
    if not images:
        raise InputError("no images found", image_root)
    unlabelled = 0
    for image in tqdm(images, desc="read yolo", unit="img", disable=None):
        name = image.relative_to(image_root).as_posix()
        try:
            width, height = read_image_size(image)
        except InputError:
            result.missing_images.append(f"{image}: unreadable image")
            continue
        label = label_path_for(image, root if image_root.is_relative_to(root) else image_root)
        labelled = label.is_file()
        unlabelled += not labelled
        boxes = parse_label_file(label, names, width, height) if labelled else []
        rel_to_root = image.relative_to(root).as_posix() if image.is_relative_to(root) else name
        group = groups.get(rel_to_root) or groups.get(name) or group_from_name(name)
        result.records.append(
            ImageRecord(
                image=image,
                name=name,
                width=width,
                height=height,
                boxes=boxes,
                group=group,
                labelled=labelled,
                source=str(label if labelled else image),
            )
        )
    if unlabelled:
        result.warnings.append(
            f"{unlabelled} image(s) have no label file; written without one (`dataset check` lists them)"
        )
    return result
