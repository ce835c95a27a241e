"""Teacher labels: the COCO checkpoint's boxes for the context classes a dataset leaves unlabelled.

Fine-tuning on photos where people, cars and bikes are in the picture but not in the labels teaches
the model that they are background: plain fine-tuning on real garbage photos took the model's recall
of real vehicles to zero. Writing the COCO model's own boxes (person, car/bus/truck, bicycle/motorcycle)
into those images' labels keeps that knowledge in the one model (distillation by pseudo-labels), at no
cost per frame at run time.

`distill_dataset` reads a dataset in the layout `dataset import` writes (images/, labels/, classes.txt),
and writes a new one beside it: the images linked, each label file = the original lines + the teacher's
lines for the classes the dataset has no boxes of at all (a class labelled anywhere in it is trusted
as labelled everywhere). The teacher runs through the project's own ONNX detector, so no torch here.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from detector.errors import InputError
from detector.model import Detector

# COCO class name -> taxonomy context class (the COCO model is trusted only for these)
COCO_TO_TAXONOMY: dict[str, str] = {
    "car": "vehicle",
    "bus": "vehicle",
    "truck": "vehicle",
    "person": "person",
    "bicycle": "two_wheeler",
    "motorcycle": "two_wheeler",
}


@dataclass
class DistillReport:
    images: int = 0
    teacher_classes: list[str] = field(default_factory=list)
    boxes_added: Counter = field(default_factory=Counter)
    conf: float = 0.0
    teacher: str = ""

    def to_dict(self) -> dict:
        return {
            "images": self.images,
            "teacher": self.teacher,
            "conf": self.conf,
            "teacher_classes": self.teacher_classes,
            "boxes_added": dict(self.boxes_added),
        }


def _read_names(root: Path) -> list[str]:
    names_file = root / "classes.txt"
    if not names_file.exists():
        raise InputError("no classes.txt: expected a dataset written by `streetwatch dataset import`", root)
    return [n.strip() for n in names_file.read_text(encoding="utf-8").splitlines() if n.strip()]


def _labelled_classes(labels: Iterable[Path]) -> set[int]:
    seen: set[int] = set()
    for path in labels:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                seen.add(int(line.split()[0]))
    return seen


def teacher_lines(detector: Detector, image_path: Path, class_ids: dict[str, int]) -> list[str]:
    """YOLO label lines (normalised xywh) for the teacher's boxes of the mapped COCO classes."""
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError("not a readable image", image_path)
    h, w = image.shape[:2]
    lines = []
    for det in detector.detect(image):
        target = COCO_TO_TAXONOMY.get(det.class_name)
        if target is None or target not in class_ids:
            continue
        x1, y1, x2, y2 = max(det.x1, 0), max(det.y1, 0), min(det.x2, w), min(det.y2, h)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        cx, cy, bw, bh = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h
        lines.append(f"{class_ids[target]} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
    return lines


def distill_dataset(
    src: Path,
    out: Path,
    teacher: Path,
    conf: float = 0.4,
    threads: int | None = None,
    progress: Callable[[Iterable[Path], int], Iterable[Path]] | None = None,
) -> DistillReport:
    """Write `out`: `src` with the teacher's boxes added for the context classes `src` never labels."""
    src, out = Path(src), Path(out)
    names = _read_names(src)
    images = sorted(p for p in (src / "images").iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not images:
        raise InputError("no images under images/", src)
    if out.exists() and any(out.iterdir()):
        raise InputError("output folder exists and is not empty", out)
    labelled = _labelled_classes((src / "labels").glob("*.txt"))
    class_ids = {
        target: names.index(target)
        for target in sorted(set(COCO_TO_TAXONOMY.values()))
        if target in names and names.index(target) not in labelled
    }
    detector = Detector(teacher, conf=conf, threads=threads)
    report = DistillReport(teacher_classes=sorted(class_ids), conf=conf, teacher=teacher.name)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    for name in ("classes.txt", "groups.csv"):
        if (src / name).exists():
            shutil.copyfile(src / name, out / name)
    iterator = progress(images, len(images)) if progress else images
    for image in iterator:
        link = out / "images" / image.name
        if not link.exists():
            os.symlink(image.resolve(), link)
        label_src = src / "labels" / f"{image.stem}.txt"
        original = label_src.read_text(encoding="utf-8").splitlines() if label_src.exists() else []
        added = teacher_lines(detector, image, class_ids) if class_ids else []
        for line in added:
            report.boxes_added[names[int(line.split()[0])]] += 1
        text = "".join(f"{line}\n" for line in [*original, *added] if line.strip())
        (out / "labels" / f"{image.stem}.txt").write_text(text, encoding="utf-8")
        report.images += 1
    (out / "distill.json").write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return report
