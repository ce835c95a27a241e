"""Builders for the dataset tests: small generated images and the same scenes written by hand in each
annotation format (YOLO, COCO, Pascal VOC, CVAT for images 1.1, Label Studio JSON).

No tests here; `test_dataset_*.py` import these helpers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

SOURCE_CLASSES = ["car", "stall", "bin_full", "trash", "soil", "parked_on_pavement", "pedestrian"]
MAPPING_YAML = """\
mapping:
  car: vehicle
  stall: out_of_store_vending
  bin_full: overflowing_bin
  trash: exposed_garbage
  soil: exposed_soil
  parked_on_pavement: illegal_parking
  pedestrian: ignore
"""
# source class -> taxonomy class, as MAPPING_YAML says (pedestrian is ignored)
EXPECTED_CLASS = {
    "car": "vehicle",
    "stall": "out_of_store_vending",
    "bin_full": "overflowing_bin",
    "trash": "exposed_garbage",
    "soil": "exposed_soil",
    "parked_on_pavement": "illegal_parking",
}


@dataclass
class Scene:
    """One image to generate: its name (may include a group folder), size, group and pixel boxes."""

    name: str
    width: int
    height: int
    group: str
    boxes: list[tuple[str, float, float, float, float]] = field(default_factory=list)


def make_scenes(groups: int = 4, per_group: int = 3, seed: int = 0) -> list[Scene]:
    """Frames of `groups` routes; every class appears in every route, so splits can balance them."""
    rng = np.random.default_rng(seed)
    scenes = []
    for g in range(groups):
        for f in range(per_group):
            w, h = (160, 120) if (g + f) % 2 == 0 else (128, 96)
            boxes = []
            for k, cls in enumerate(SOURCE_CLASSES):
                if (f + k + g) % 3 == 2 and cls != "pedestrian":
                    continue  # not every class in every frame
                bw, bh = rng.integers(8, w // 3), rng.integers(8, h // 3)
                x1, y1 = float(rng.integers(0, w - bw)), float(rng.integers(0, h - bh))
                boxes.append((cls, x1, y1, x1 + float(bw), y1 + float(bh)))
            scenes.append(Scene(f"route{g}/frame_{f:04d}.jpg", w, h, f"route{g}", boxes))
    return scenes


def make_image(path: Path, width: int, height: int, seed: int) -> Path:
    """A unique, valid image (noise + a rectangle), encoded by its suffix."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    cv2.rectangle(img, (width // 4, height // 4), (width // 2, height // 2), (0, 200, 0), -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise RuntimeError(f"could not write {path}")
    return path


def write_images(root: Path, scenes: list[Scene], flat: bool = False) -> None:
    for i, scene in enumerate(scenes):
        name = scene.name.replace("/", "_") if flat else scene.name
        make_image(root / name, scene.width, scene.height, seed=1000 + i)


def write_yolo(root: Path, scenes: list[Scene], names_file: str = "data.yaml") -> Path:
    write_images(root / "images", scenes)
    for scene in scenes:
        lines = []
        for cls, x1, y1, x2, y2 in scene.boxes:
            cx, cy = (x1 + x2) / 2 / scene.width, (y1 + y2) / 2 / scene.height
            w, h = (x2 - x1) / scene.width, (y2 - y1) / scene.height
            lines.append(f"{SOURCE_CLASSES.index(cls)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
        label = (root / "labels" / scene.name).with_suffix(".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(lines))
    if names_file == "data.yaml":
        body = "train: images\nval: images\nnames:\n" + "".join(
            f"  {i}: {n}\n" for i, n in enumerate(SOURCE_CLASSES)
        )
        (root / "data.yaml").write_text(body)
    else:
        (root / "classes.txt").write_text("\n".join(SOURCE_CLASSES) + "\n")
    return root


def coco_dict(scenes: list[Scene]) -> dict:
    images, annotations = [], []
    for i, scene in enumerate(scenes, start=1):
        images.append({"id": i, "file_name": scene.name, "width": scene.width, "height": scene.height})
        for cls, x1, y1, x2, y2 in scene.boxes:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": SOURCE_CLASSES.index(cls) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i + 1, "name": n, "supercategory": "street"} for i, n in enumerate(SOURCE_CLASSES)]
    return {"images": images, "annotations": annotations, "categories": categories}


def write_coco(root: Path, scenes: list[Scene]) -> Path:
    write_images(root / "images", scenes)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    path = root / "annotations" / "instances_default.json"
    path.write_text(json.dumps(coco_dict(scenes)))
    return path


def voc_xml(scene: Scene, filename: str) -> str:
    objects = "".join(
        f"<object><name>{cls}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>"
        f"<bndbox><xmin>{x1:g}</xmin><ymin>{y1:g}</ymin><xmax>{x2:g}</xmax><ymax>{y2:g}</ymax></bndbox></object>"
        for cls, x1, y1, x2, y2 in scene.boxes
    )
    return (
        f"<annotation><folder>VOC2012</folder><filename>{filename}</filename>"
        f"<size><width>{scene.width}</width><height>{scene.height}</height><depth>3</depth></size>"
        f"<segmented>0</segmented>{objects}</annotation>"
    )


def write_voc(root: Path, scenes: list[Scene]) -> Path:
    """VOCdevkit layout: Annotations/<flat>.xml + JPEGImages/<group>/<frame>.jpg (group folders kept)."""
    write_images(root / "JPEGImages", scenes)
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    for scene in scenes:
        (root / "Annotations" / scene.name.replace("/", "_")).with_suffix(".xml").write_text(
            voc_xml(scene, scene.name)
        )
    return root


def cvat_xml(scenes: list[Scene], task_names: dict[str, int] | None = None) -> str:
    """CVAT for images 1.1; with `task_names` (group -> task id) a project export of several tasks."""
    labels = "".join(
        f"<label><name>{n}</name><color>#ff0000</color><type>rectangle</type></label>" for n in SOURCE_CLASSES
    )
    if task_names:
        tasks = "".join(
            f"<task><id>{tid}</id><name>{g}</name><mode>annotation</mode><labels>{labels}</labels></task>"
            for g, tid in task_names.items()
        )
        project = f"<id>1</id><name>p</name><tasks>{tasks}</tasks><labels>{labels}</labels>"
        meta = f"<meta><project>{project}</project></meta>"
    else:
        meta = (
            f"<meta><task><id>7</id><name>street</name><mode>annotation</mode>"
            f"<labels>{labels}</labels></task></meta>"
        )
    images = []
    for i, scene in enumerate(scenes):
        name = scene.name.split("/")[-1] if task_names else scene.name
        task = f' task_id="{task_names[scene.group]}"' if task_names else ""
        boxes = "".join(
            f'<box label="{cls}" source="manual" occluded="0" xtl="{x1:.2f}" ytl="{y1:.2f}" '
            f'xbr="{x2:.2f}" ybr="{y2:.2f}" z_order="0"></box>'
            for cls, x1, y1, x2, y2 in scene.boxes
        )
        size = f'width="{scene.width}" height="{scene.height}"'
        images.append(f'<image id="{i}" name="{name}" {size}{task}>{boxes}</image>')
    body = f"<version>1.1</version>{meta}{''.join(images)}"
    return f'<?xml version="1.0" encoding="utf-8"?>\n<annotations>{body}</annotations>'


def write_cvat(root: Path, scenes: list[Scene]) -> Path:
    write_images(root / "images", scenes)
    path = root / "annotations.xml"
    path.write_text(cvat_xml(scenes))
    return path


def labelstudio_tasks(scenes: list[Scene]) -> list[dict]:
    tasks = []
    for i, scene in enumerate(scenes, start=1):
        results = [
            {
                "id": f"r{i}_{j}",
                "type": "rectanglelabels",
                "from_name": "label",
                "to_name": "image",
                "original_width": scene.width,
                "original_height": scene.height,
                "image_rotation": 0,
                "value": {
                    "x": x1 / scene.width * 100,
                    "y": y1 / scene.height * 100,
                    "width": (x2 - x1) / scene.width * 100,
                    "height": (y2 - y1) / scene.height * 100,
                    "rotation": 0,
                    "rectanglelabels": [cls],
                },
            }
            for j, (cls, x1, y1, x2, y2) in enumerate(scene.boxes)
        ]
        flat = scene.name.replace("/", "_")
        tasks.append(
            {
                "id": i,
                "data": {"image": f"/data/upload/3/{i:08x}-{flat}", "route": scene.group},
                "annotations": [{"id": i, "was_cancelled": False, "result": results}],
                "predictions": [],
            }
        )
    return tasks


def write_labelstudio(root: Path, scenes: list[Scene]) -> Path:
    """A Label Studio export whose images were uploaded (server paths with a hash prefix); the files
    are next to the JSON under their original names."""
    write_images(root / "images", scenes, flat=True)
    path = root / "export.json"
    path.write_text(json.dumps(labelstudio_tasks(scenes)))
    return path


WRITERS = {
    "yolo": write_yolo,
    "coco": write_coco,
    "voc": write_voc,
    "cvat": write_cvat,
    "labelstudio": write_labelstudio,
}


def write_source(fmt: str, root: Path, scenes: list[Scene]) -> Path:
    """Write `scenes` in `fmt` under `root`; returns the SRC argument for `dataset import`."""
    result = WRITERS[fmt](root, scenes)
    return root if fmt in ("yolo", "voc") else result


def read_yolo_labels(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines() if line.strip()]
