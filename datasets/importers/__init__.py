"""Dataset importers: one module per annotation format, each `read(src, images_dir) -> SourceDataset`."""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from datasets.records import SourceDataset
from detector.errors import ConfigError, InputError

FORMATS: dict[str, str] = {
    "yolo": "YOLO folder: images/ + labels/*.txt, names from data.yaml, classes.txt or obj.names",
    "coco": "COCO detection JSON (file, or folder with *.json or annotations/*.json)",
    "voc": "Pascal VOC XML folder (Annotations/*.xml + JPEGImages/)",
    "cvat": "CVAT for images 1.1 XML (annotations.xml, file or folder)",
    "labelstudio": "Label Studio JSON export (rectanglelabels; file or folder with one *.json)",
}


def reader(fmt: str) -> Callable[[Path, Path | None], SourceDataset]:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown dataset format {fmt!r}; known: {', '.join(FORMATS)}")
    return import_module(f"datasets.importers.{fmt}").read


def apply_group_regex(dataset: SourceDataset, pattern: str) -> int:
    """Set each record's group from its name: the first capture group of `pattern` (or the whole
    match). Returns how many names did not match (their group stays as the importer set it)."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"--group-regex {pattern!r}: {exc}") from exc
    misses = 0
    for record in dataset.records:
        match = regex.search(record.name)
        if match is None:
            misses += 1
            continue
        record.group = match.group(1) if regex.groups else match.group(0)
    return misses


def read_source(
    src: str | Path, fmt: str, images_dir: str | Path | None = None, group_regex: str | None = None
) -> SourceDataset:
    """Read a labelled dataset in any supported format into records (pixel boxes, source class names)."""
    src = Path(src)
    if not src.exists():
        raise InputError("does not exist", src)
    images = Path(images_dir) if images_dir else None
    if images is not None and not images.is_dir():
        raise InputError("--images is not a folder", images)
    dataset = reader(fmt)(src, images)
    if group_regex:
        misses = apply_group_regex(dataset, group_regex)
        if misses:
            dataset.warnings.append(f"--group-regex did not match {misses} image name(s); kept their groups")
    return dataset
