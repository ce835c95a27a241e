"""Read an ultralytics dataset YAML: the images of a split, their YOLO label files, a hash of the list.

Ultralytics conventions: `path` is the dataset root; a split (`train`, `val`, `test`) is a folder of
images, a .txt file listing images, or a list of those; the label of `.../images/x.jpg` is
`.../labels/x.txt` (class cx cy w h, normalised).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from detector.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def load_data_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a dataset YAML; relative `path` is taken relative to the YAML file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: dataset YAML not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict) or "names" not in data:
        raise InputError(f"{path}: dataset YAML has no 'names'")
    root = Path(data["path"]) if data.get("path") else Path(".")
    if not root.is_absolute():
        root = (path.parent / root).resolve()
    data["_root"] = root
    return data


def class_names(data: dict[str, Any]) -> list[str]:
    names = data["names"]
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names, key=int)]
    return [str(n) for n in names]


def split_images(data: dict[str, Any], split: str) -> list[Path]:
    """All image files of one split, sorted."""
    entry = data.get(split)
    if not entry:
        raise InputError(f"dataset YAML has no '{split}' split")
    root: Path = data["_root"]
    entries = entry if isinstance(entry, list) else [entry]
    images: list[Path] = []
    for item in entries:
        p = Path(item)
        p = p if p.is_absolute() else root / p
        if p.is_dir():
            images += [f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES]
        elif p.is_file() and p.suffix == ".txt":
            for line in p.read_text().splitlines():
                line = line.strip()
                if line:
                    f = Path(line)
                    images.append(f if f.is_absolute() else (p.parent / f).resolve())
        else:
            raise InputError(f"{p}: split '{split}' points at nothing")
    return sorted(images)


def label_path(image: Path) -> Path:
    """`.../images/a/b.jpg` -> `.../labels/a/b.txt` (last `images` folder in the path)."""
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def read_labels(image: Path) -> np.ndarray:
    """YOLO labels of an image as an (n, 5) float array [class, cx, cy, w, h]; empty if none."""
    lp = label_path(image)
    if not lp.exists():
        return np.zeros((0, 5), dtype=np.float64)
    rows = [line.split() for line in lp.read_text().splitlines() if line.strip()]
    try:
        arr = np.array([[float(v) for v in r[:5]] for r in rows], dtype=np.float64)
    except ValueError as exc:
        raise InputError(f"{lp}: not a YOLO label file ({exc})") from exc
    if arr.size and arr.shape[1] != 5:
        raise InputError(f"{lp}: expected 5 values per line (class cx cy w h)")
    return arr.reshape(-1, 5)


def training_data_hash(data_yaml: str | Path, split: str = "train") -> str:
    """sha256 over the sorted training image list (paths relative to the dataset root, sizes) + labels.

    Two models trained on the same list of frames and labels carry the same hash.
    """
    data = load_data_yaml(data_yaml)
    root: Path = data["_root"]
    digest = hashlib.sha256()
    for image in split_images(data, split):
        try:
            rel = image.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            rel = image.name
        digest.update(f"{rel}\t{image.stat().st_size}\n".encode())
        lp = label_path(image)
        digest.update(lp.read_bytes() if lp.exists() else b"")
        digest.update(b"\n")
    return digest.hexdigest()
