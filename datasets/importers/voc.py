"""Pascal VOC XML: one `<annotation>` file per image (`Annotations/*.xml` + `JPEGImages/`, or XMLs beside
the images as LabelImg writes them). Coordinates are taken as written (no 1-based shift), like
ultralytics' own VOC converter. Images in `JPEGImages/` with no XML are imported as unlabelled.
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from datasets.importers._common import (
    IMAGE_SUFFIXES,
    ImageLocator,
    group_from_name,
    iter_images,
    number,
    parse_xml,
    read_image_size,
    xml_text,
)
from datasets.records import BoxRecord, ImageRecord, SourceDataset
from detector.errors import InputError


def _locate(filename: str, path_text: str | None, locator: ImageLocator) -> Path | None:
    candidates = [filename]
    if path_text:
        candidates.append(path_text.replace("\\", "/").rsplit("/", 1)[-1])
    if not Path(filename).suffix:
        candidates += [filename + s for s in sorted(IMAGE_SUFFIXES)]
    for ref in candidates:
        found = locator.find(ref)
        if found is not None:
            return found
    return None


def read(src: Path, images_dir: Path | None = None) -> SourceDataset:
    if not src.is_dir():
        raise InputError("Pascal VOC source must be a folder", src)
    xmls = sorted(p for p in src.rglob("*.xml") if p.is_file())
    if not xmls:
        raise InputError("no *.xml annotation files found", src)
    image_dirs = [images_dir] if images_dir else []
    image_dirs += sorted({p.parent.parent / "JPEGImages" for p in xmls}) + [
        src / "JPEGImages",
        src / "images",
    ]
    result = SourceDataset(format="voc", records=[])
    seen: set[Path] = set()
    for xml in tqdm(xmls, desc="read voc", unit="xml", disable=None):
        root = parse_xml(xml)
        if root.tag != "annotation":
            raise InputError(f"not a Pascal VOC annotation: root element is <{root.tag}>", xml)
        filename = xml_text(root, "filename", xml, "annotation")
        path_el = root.find("path")
        locator = ImageLocator([*image_dirs, xml.parent, src])
        found = _locate(filename, path_el.text if path_el is not None else None, locator)
        if found is None:
            result.missing_images.append(f"{xml}: {filename}: not found")
            continue
        seen.add(found.resolve())
        size = root.find("size")
        width = int(number(size.findtext("width", "0"), "size/width", xml)) if size is not None else 0
        height = int(number(size.findtext("height", "0"), "size/height", xml)) if size is not None else 0
        if width <= 0 or height <= 0:
            try:
                width, height = read_image_size(found)
            except InputError:
                result.missing_images.append(f"{xml}: {filename}: unreadable image and no <size>")
                continue
        boxes = []
        for i, obj in enumerate(root.iter("object"), start=1):
            label = xml_text(obj, "name", xml, f"object {i}")
            bnd = obj.find("bndbox")
            if bnd is None:
                raise InputError(f"object {i} ({label}): missing <bndbox>", xml)
            x1, y1, x2, y2 = (
                number(xml_text(bnd, k, xml, f"object {i} bndbox"), f"object {i} {k}", xml)
                for k in ("xmin", "ymin", "xmax", "ymax")
            )
            boxes.append(BoxRecord(label, x1, y1, x2, y2))
            if label not in result.declared_classes:
                result.declared_classes.append(label)
        name = locator.relative_name(found)
        result.records.append(
            ImageRecord(
                image=found,
                name=name,
                width=width,
                height=height,
                boxes=boxes,
                group=group_from_name(name),
                source=str(xml),
            )
        )
    unlabelled = 0
    for folder in {d for d in image_dirs if d is not None and d.is_dir()}:
        for image in iter_images(folder):
            if image.resolve() in seen:
                continue
            seen.add(image.resolve())
            try:
                width, height = read_image_size(image)
            except InputError:
                result.missing_images.append(f"{image}: unreadable image")
                continue
            name = image.relative_to(folder).as_posix()
            unlabelled += 1
            result.records.append(
                ImageRecord(
                    image=image,
                    name=name,
                    width=width,
                    height=height,
                    group=group_from_name(name),
                    labelled=False,
                    source=str(image),
                )
            )
    if unlabelled:
        result.warnings.append(f"{unlabelled} image(s) have no annotation XML; written without a label file")
    return result
