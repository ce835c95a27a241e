"""`dataset stats`: per-class box and image counts and a box-size histogram, as text."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from datasets.importers._common import read_image_size
from datasets.layout import class_names, dataset_images, label_path, parse_label_text
from detector.errors import InputError

# Box size = sqrt(width * height) in pixels; COCO calls < 32 small, 32-96 medium, > 96 large.
SIZE_BINS = (0, 8, 16, 32, 64, 128, 256, 512)


@dataclass
class DatasetStats:
    class_names: list[str]
    images: int = 0
    images_without_objects: int = 0
    boxes: dict[str, int] = field(default_factory=dict)
    images_with: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, list[int]] = field(default_factory=dict)
    """Per class, box counts per `SIZE_BINS` bin."""

    def text(self, bar_width: int = 40) -> str:
        labels = [f"{lo}-{hi}" for lo, hi in zip(SIZE_BINS, SIZE_BINS[1:], strict=False)] + [
            f">={SIZE_BINS[-1]}"
        ]
        width = max(len(n) for n in self.class_names) + 2
        out = [
            f"{self.images} images, {self.images_without_objects} without objects, "
            f"{sum(self.boxes.values())} boxes",
            "",
            f"{'class':{width}}{'boxes':>8}{'images':>8}",
        ]
        out += [f"{n:{width}}{self.boxes[n]:>8}{self.images_with[n]:>8}" for n in self.class_names]
        col = max(width, 24)
        out += ["", f"{'box size sqrt(w*h), px':{col}}" + "".join(f"{lab:>9}" for lab in labels)]
        out += [f"{n:{col}}" + "".join(f"{c:>9}" for c in self.sizes[n]) for n in self.class_names]
        totals = [sum(self.sizes[n][i] for n in self.class_names) for i in range(len(labels))]
        peak = max(totals) or 1
        out += ["", "all classes:"]
        out += [
            f"  {lab:>8} px {'#' * math.ceil(bar_width * t / peak) if t else '':{bar_width}} {t}"
            for lab, t in zip(labels, totals, strict=True)
        ]
        return "\n".join(out)


def dataset_stats(root: str | Path, taxonomy_path: str | Path | None = None) -> DatasetStats:
    root = Path(root)
    images = dataset_images(root)
    if not images:
        raise InputError("no images found", root)
    names = class_names(root, taxonomy_path)
    stats = DatasetStats(
        class_names=names,
        images=len(images),
        boxes=dict.fromkeys(names, 0),
        images_with=dict.fromkeys(names, 0),
        sizes={n: [0] * len(SIZE_BINS) for n in names},
    )
    for img in images:
        label = label_path(img, root)
        lines = (
            [
                lab
                for lab in parse_label_text(label.read_text(encoding="utf-8-sig", errors="replace"))
                if lab.error is None and lab.cls is not None and 0 <= lab.cls < len(names)
            ]
            if label.is_file()
            else []
        )
        if not lines:
            stats.images_without_objects += 1
            continue
        try:
            width, height = read_image_size(img)
        except InputError:
            width = height = 0
        for name in {names[lab.cls] for lab in lines}:
            stats.images_with[name] += 1
        for lab in lines:
            name = names[lab.cls]
            stats.boxes[name] += 1
            if width:
                size = math.sqrt(max(lab.w * width, 0) * max(lab.h * height, 0))
                bin_index = sum(1 for edge in SIZE_BINS[1:] if size >= edge)
                stats.sizes[name][bin_index] += 1
    return stats
