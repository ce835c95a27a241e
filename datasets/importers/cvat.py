"""CVAT for images 1.1 XML (`annotations.xml`, from a task or a project export): `<image>` elements
with `<box>` children. Other shapes (polygons, points...) are skipped and counted; rotated boxes become
their axis-aligned bounds. A CVAT *video* export (`<track>`) is refused with a hint.

Groups: an image's sub-folder; else its task, when the export holds several tasks or a video task
(frames of one task video must stay together).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tqdm import tqdm

from datasets.importers._common import ImageLocator, group_from_name, number, parse_xml, rotated_aabb
from datasets.records import BoxRecord, ImageRecord, SourceDataset
from detector.errors import InputError

SHAPES = ("polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton", "tag")


def _xml_file(src: Path) -> Path:
    if src.is_file():
        return src
    candidate = src / "annotations.xml"
    if candidate.is_file():
        return candidate
    xmls = sorted(src.glob("*.xml"))
    if len(xmls) == 1:
        return xmls[0]
    raise InputError("expected annotations.xml (CVAT for images 1.1) in the folder", src)


def read(src: Path, images_dir: Path | None = None) -> SourceDataset:
    xml = _xml_file(src)
    root = parse_xml(xml)
    if root.tag != "annotations":
        raise InputError(f"not a CVAT XML: root element is <{root.tag}>, expected <annotations>", xml)
    result = SourceDataset(format="cvat", records=[])
    version = (root.findtext("version") or "").strip()
    if version and version != "1.1":
        result.warnings.append(f"{xml}: CVAT XML version {version}; read as 1.1")
    if root.find("track") is not None:
        raise InputError("this is a 'CVAT for video' export (<track>); export 'CVAT for images 1.1'", xml)
    tasks: dict[str, tuple[str, str]] = {}  # id -> (name, mode)
    for task in root.iter("task"):
        task_id = (task.findtext("id") or "").strip()
        tasks[task_id] = ((task.findtext("name") or task_id).strip(), (task.findtext("mode") or "").strip())
    for label in root.iter("label"):
        name = (label.findtext("name") or "").strip()
        if name and name not in result.declared_classes:
            result.declared_classes.append(name)
    use_task_groups = len(tasks) > 1 or any(mode == "interpolation" for _, mode in tasks.values())
    only_task = next(iter(tasks)) if len(tasks) == 1 else None
    base = xml.parent
    locator = ImageLocator([images_dir, base / "images", base])
    skipped: Counter[str] = Counter()
    for image in tqdm(root.findall("image"), desc="read cvat", unit="img", disable=None):
        image_id = image.get("id", "?")
        where = f"<image id={image_id}>"
        ref = image.get("name")
        if not ref:
            raise InputError(f"{where}: missing attribute `name`", xml)
        width = int(number(image.get("width"), f"{where} width", xml))
        height = int(number(image.get("height"), f"{where} height", xml))
        found = locator.find(ref)
        if found is None and image.get("subset"):
            found = locator.find(f"{image.get('subset')}/{ref}")
        if found is None:
            result.missing_images.append(f"{xml}: {ref}: not found")
            continue
        boxes = []
        for box in image:
            if box.tag != "box":
                if box.tag in SHAPES:
                    skipped[box.tag] += 1
                continue
            label = box.get("label")
            if not label:
                raise InputError(f"{where}: <box> without `label`", xml)
            x1, y1, x2, y2 = (
                number(box.get(k), f"{where} box {k}", xml) for k in ("xtl", "ytl", "xbr", "ybr")
            )
            rotation = number(box.get("rotation", "0"), f"{where} box rotation", xml)
            boxes.append(BoxRecord(label, *rotated_aabb(x1, y1, x2, y2, rotation)))
        task_id = image.get("task_id") or only_task
        name = locator.name_for(ref, found)
        group = group_from_name(name)
        if group is None and use_task_groups and task_id in tasks:
            group = f"task:{tasks[task_id][0]}"
        result.records.append(
            ImageRecord(
                image=found,
                name=name,
                width=width,
                height=height,
                boxes=boxes,
                group=group,
                source=f"{xml} {where}",
            )
        )
    if skipped:
        listing = ", ".join(f"{n} {tag}" for tag, n in sorted(skipped.items()))
        result.warnings.append(f"{xml}: skipped shapes that are not boxes: {listing}")
    return result
