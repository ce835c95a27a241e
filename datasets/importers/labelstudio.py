"""Label Studio JSON export (the full "JSON" format, a list of tasks): `rectanglelabels` results with
coordinates in percent of `original_width`/`original_height`, rotation in degrees about the box's
top-left corner. Per task the last annotation that was not cancelled is used; tasks with none are
unlabelled. Groups come from a task data field `group`, `video`, `video_id`, `route`, `day` or
`sequence`, else from the image's sub-folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tqdm import tqdm

from datasets.importers._common import (
    ImageLocator,
    group_from_name,
    is_image,
    load_json,
    number,
    read_image_size,
    rotated_aabb,
)
from datasets.records import BoxRecord, ImageRecord, SourceDataset
from detector.errors import InputError

GROUP_FIELDS = ("group", "video", "video_id", "route", "day", "sequence")


def _json_file(src: Path) -> Path:
    if src.is_file():
        return src
    files = sorted(src.glob("*.json"))
    if len(files) == 1:
        return files[0]
    raise InputError(f"expected one Label Studio *.json export in the folder, found {len(files)}", src)


def image_reference(data: dict[str, Any]) -> str | None:
    """The local path an image URL of a task points to (`/data/local-files/?d=...`, `/data/upload/...`)."""
    value = data.get("image")
    if not isinstance(value, str):
        value = next(
            (v for v in data.values() if isinstance(v, str) and is_image(Path(urlparse(v).path))), None
        )
    if value is None:
        return None
    url = urlparse(value)
    if "d" in parse_qs(url.query):
        return unquote(parse_qs(url.query)["d"][0])
    path = unquote(url.path)
    for prefix in ("/data/upload/", "/data/"):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def _pick_annotation(task: dict[str, Any]) -> dict[str, Any] | None:
    annotations = [
        a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")
    ]
    return annotations[-1] if annotations else None


def read(src: Path, images_dir: Path | None = None) -> SourceDataset:
    path = _json_file(src)
    tasks = load_json(path)
    if isinstance(tasks, dict) and "data" in tasks:
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise InputError("not a Label Studio JSON export: expected a list of tasks", path)
    if tasks and isinstance(tasks[0], dict) and "annotations" not in tasks[0] and "data" not in tasks[0]:
        raise InputError(
            "looks like a JSON-MIN export; export the full 'JSON' format from Label Studio", path
        )
    base = path.parent
    locator = ImageLocator([images_dir, base, base / "images"])
    result = SourceDataset(format="labelstudio", records=[])
    unlabelled = 0
    for i, task in enumerate(tqdm(tasks, desc="read label studio", unit="task", disable=None)):
        task_id = task.get("id", i) if isinstance(task, dict) else i
        where = f"task {task_id}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise InputError(f"{where}: missing `data`", path)
        ref = image_reference(task["data"])
        if ref is None:
            raise InputError(f"{where}: no image URL in `data`", path)
        found = locator.find(ref)
        if found is None:
            result.missing_images.append(f"{path}: {ref}: not found")
            continue
        annotation = _pick_annotation(task)
        boxes: list[BoxRecord] = []
        size: tuple[int, int] | None = None
        for j, res in enumerate((annotation or {}).get("result") or []):
            if not isinstance(res, dict) or res.get("type") != "rectanglelabels":
                continue
            rwhere = f"{where} result {j}"
            value = res.get("value")
            if not isinstance(value, dict):
                raise InputError(f"{rwhere}: missing `value`", path)
            labels = value.get("rectanglelabels") or []
            if not labels:
                raise InputError(f"{rwhere}: no `rectanglelabels`", path)
            w_img = int(number(res.get("original_width"), f"{rwhere} original_width", path))
            h_img = int(number(res.get("original_height"), f"{rwhere} original_height", path))
            size = size or (w_img, h_img)
            x, y, w, h = (number(value.get(k), f"{rwhere} {k}", path) for k in ("x", "y", "width", "height"))
            x1, y1 = x / 100 * w_img, y / 100 * h_img
            x2, y2 = x1 + w / 100 * w_img, y1 + h / 100 * h_img
            rotation = number(value.get("rotation", 0), f"{rwhere} rotation", path)
            box = rotated_aabb(x1, y1, x2, y2, rotation, pivot=(x1, y1))
            for label in labels:
                boxes.append(BoxRecord(str(label), *box))
        if size is None:
            try:
                size = read_image_size(found)
            except InputError:
                result.missing_images.append(f"{path}: {ref}: unreadable image")
                continue
        name = locator.relative_name(found)
        data = task["data"]
        group = next((str(data[k]) for k in GROUP_FIELDS if data.get(k) not in (None, "")), None)
        unlabelled += annotation is None
        result.records.append(
            ImageRecord(
                image=found,
                name=name,
                width=size[0],
                height=size[1],
                boxes=boxes,
                group=group or group_from_name(name),
                labelled=annotation is not None,
                source=f"{path} {where}",
            )
        )
    for record in result.records:
        for box in record.boxes:
            if box.label not in result.declared_classes:
                result.declared_classes.append(box.label)
    if unlabelled:
        result.warnings.append(f"{unlabelled} task(s) have no annotation; written without a label file")
    return result
