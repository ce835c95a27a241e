"""COCO detection JSON (`images`, `annotations`, `categories`); one file or every `*.json` of a folder.

Images are looked up next to the JSON, in `images/` beside it, and one level up (or under `--images`).
Crowd annotations (`iscrowd: 1`) are skipped and counted. Groups come from an image's `video_id`,
`video`, `sequence` or `group` field (COCO-VID/TAO style), else from its sub-folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tqdm import tqdm

from datasets.importers._common import ImageLocator, group_from_name, load_json, number, read_image_size
from datasets.records import BoxRecord, ImageRecord, SourceDataset
from detector.errors import InputError

GROUP_FIELDS = ("video_id", "video", "sequence", "group")


def _json_files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    for folder in (src, src / "annotations"):
        files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        if files:
            return files
    raise InputError("no COCO *.json found (looked in the folder and its annotations/)", src)


def _field(obj: Any, key: str, path: Path, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise InputError(f"{where}: missing `{key}`", path)
    return obj[key]


def _read_file(path: Path, images_dir: Path | None, result: SourceDataset) -> None:
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InputError("not a COCO detection file: expected an object with an `images` list", path)
    categories = {}
    for i, cat in enumerate(data.get("categories") or []):
        categories[_field(cat, "id", path, f"categories[{i}]")] = str(
            _field(cat, "name", path, f"categories[{i}]")
        )
    for name in categories.values():
        if name not in result.declared_classes:
            result.declared_classes.append(name)
    roots = [images_dir, path.parent, path.parent / "images"]
    if path.parent.name == "annotations":  # annotations/instances_*.json beside images/
        roots += [path.parent.parent / "images", path.parent.parent]
    locator = ImageLocator(roots)
    records: dict[Any, ImageRecord] = {}
    listed_ids: set[Any] = set()
    for i, img in enumerate(tqdm(data["images"], desc=f"read {path.name}", unit="img", disable=None)):
        where = f"images[{i}]"
        image_id = _field(img, "id", path, where)
        listed_ids.add(image_id)
        file_name = str(_field(img, "file_name", path, where))
        found = locator.find(file_name)
        if found is None:
            result.missing_images.append(f"{path}: {file_name}: not found")
            continue
        width = int(number(img.get("width") or 0, f"{where}.width", path))
        height = int(number(img.get("height") or 0, f"{where}.height", path))
        if width <= 0 or height <= 0:  # some exports leave the size out: read it from the file
            try:
                width, height = read_image_size(found)
            except InputError:
                result.missing_images.append(f"{path}: {file_name}: unreadable image and no size")
                continue
        name = locator.name_for(file_name, found)
        group = next((str(img[k]) for k in GROUP_FIELDS if img.get(k) not in (None, "")), None)
        records[image_id] = ImageRecord(
            image=found,
            name=name,
            width=width,
            height=height,
            group=group or group_from_name(name),
            source=f"{path} image id {image_id}",
        )
    crowd = 0
    for i, ann in enumerate(data.get("annotations") or []):
        where = f"annotations[{i}]"
        image_id = _field(ann, "image_id", path, where)
        category_id = _field(ann, "category_id", path, where)
        if category_id not in categories:
            raise InputError(f"{where}: category_id {category_id!r} is not in `categories`", path)
        if ann.get("iscrowd"):
            crowd += 1
            continue
        bbox = _field(ann, "bbox", path, where)
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise InputError(f"{where}: `bbox` must be [x, y, width, height], got {bbox!r}", path)
        x, y, w, h = (number(v, f"{where}.bbox", path) for v in bbox)
        if image_id not in listed_ids:
            raise InputError(f"{where}: image_id {image_id!r} is not in `images`", path)
        record = records.get(image_id)
        if record is None:  # its image is missing; already reported
            continue
        record.boxes.append(BoxRecord(categories[category_id], x, y, x + w, y + h))
    if crowd:
        result.warnings.append(f"{path}: skipped {crowd} crowd annotation(s) (iscrowd=1)")
    result.records.extend(records.values())


def read(src: Path, images_dir: Path | None = None) -> SourceDataset:
    result = SourceDataset(format="coco", records=[])
    for path in _json_files(src):
        _read_file(path, images_dir, result)
    return result
