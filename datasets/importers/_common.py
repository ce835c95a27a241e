"""Helpers the importers share: finding image files, reading image sizes, parsing XML/JSON safely."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from detector.errors import InputError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
# Folder names that say which split or role a file had, not which video/route it came from.
_NON_GROUP_DIRS = frozenset(
    {
        "images",
        "image",
        "imgs",
        "jpegimages",
        "train",
        "training",
        "val",
        "valid",
        "validation",
        "test",
        "testing",
        "default",
        "obj_train_data",
        "data",
        "upload",
        "local-files",
    }
)
_LABEL_STUDIO_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def iter_images(root: Path) -> Iterator[Path]:
    """Image files under `root`, recursively, in a stable order (hidden folders skipped)."""
    for path in sorted(root.rglob("*")):
        if (
            is_image(path)
            and path.is_file()
            and not any(p.startswith(".") for p in path.relative_to(root).parts)
        ):
            yield path


def group_from_name(name: str) -> str | None:
    """The sub-folder(s) an image sits in, without split/role folders.

    `train/route_12/0001.jpg` -> `route_12`; `0001.jpg` -> None."""
    parts = [p for p in Path(name).parts[:-1] if p.lower() not in _NON_GROUP_DIRS]
    return "/".join(parts) if parts else None


def read_image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header, without decoding the pixels, as loaders show the image:
    turned by a quarter when its EXIF orientation says so (OpenCV and ultralytics do that)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            turned = img.getexif().get(0x0112, 1) in (5, 6, 7, 8)
            return (int(img.height), int(img.width)) if turned else (int(img.width), int(img.height))
    except Exception as exc:  # noqa: BLE001 - any decoder failure (ultralytics patches Image.open)
        raise InputError(f"cannot read image header: {exc or type(exc).__name__}", path) from exc


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", path) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc.reason}", path) from exc
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path) from exc


def parse_xml(path: Path) -> Element:
    """Parse an annotation XML with defusedxml (no entity expansion, no external references)."""
    from xml.etree.ElementTree import ParseError

    import defusedxml.ElementTree as SafeET
    from defusedxml import DefusedXmlException

    try:
        return SafeET.parse(path).getroot()
    except ParseError as exc:
        raise InputError(f"malformed XML: {exc}", path) from exc
    except DefusedXmlException as exc:
        raise InputError(f"refused unsafe XML: {exc}", path) from exc
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path) from exc


def number(value: Any, where: str, path: Path) -> float:
    """A finite float from JSON/XML, or an InputError naming the file and the field."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected a number, got {value!r}", path) from None
    if not math.isfinite(result):
        raise InputError(f"{where}: expected a finite number, got {value!r}", path)
    return result


def xml_text(element: Element, tag: str, path: Path, where: str) -> str:
    child = element.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise InputError(f"{where}: missing <{tag}>", path)
    return child.text.strip()


def rotated_aabb(
    x1: float, y1: float, x2: float, y2: float, degrees: float, pivot: tuple[float, float] | None = None
) -> tuple[float, float, float, float]:
    """Axis-aligned bounds of a box rotated clockwise (image coordinates) by `degrees` about `pivot`
    (default: its centre)."""
    if not degrees:
        return x1, y1, x2, y2
    px, py = pivot if pivot is not None else ((x1 + x2) / 2, (y1 + y2) / 2)
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    xs, ys = [], []
    for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2)):
        dx, dy = x - px, y - py
        xs.append(px + dx * cos - dy * sin)
        ys.append(py + dx * sin + dy * cos)
    return min(xs), min(ys), max(xs), max(ys)


class ImageLocator:
    """Finds the image file an annotation refers to, under a list of candidate root folders.

    Tries `root/ref` for each root, then the one file under the roots with the same name whose
    folders match the end of `ref` best (annotation tools often store a server path; when `ref`
    names a folder, that folder must match), then Label Studio's upload name without its
    `1a2b3c4d-` prefix. Among equally good matches, the one under the earliest root wins; a tie
    under one root counts as not found.
    """

    def __init__(self, roots: Iterable[Path]) -> None:
        seen: list[Path] = []
        for root in roots:
            if root is not None and root.is_dir() and root.resolve() not in [s.resolve() for s in seen]:
                seen.append(root)
        self.roots = seen
        self._by_name: dict[str, dict[Path, tuple[int, Path]]] | None = None

    def _index(self) -> dict[str, dict[Path, tuple[int, Path]]]:
        """Base name -> {resolved path: (index of the first root holding it, path)}."""
        if self._by_name is None:
            self._by_name = {}
            for rank, root in enumerate(self.roots):
                for path in iter_images(root):
                    self._by_name.setdefault(path.name, {}).setdefault(path.resolve(), (rank, path))
        return self._by_name

    def find(self, ref: str) -> Path | None:
        ref = ref.replace("\\", "/").lstrip("/")
        for root in self.roots:
            candidate = root / ref
            if candidate.is_file():
                return candidate
        parts = [p for p in ref.split("/") if p]
        if not parts:
            return None
        # Same base name elsewhere: the reference's own folder must match too when it names one, so a
        # missing `route0/frame_1.jpg` is never replaced by `route1/frame_1.jpg`.
        found = self._best_suffix_match(parts, parts[-1], need=min(2, len(parts)))
        stripped = _LABEL_STUDIO_UPLOAD_PREFIX.sub("", parts[-1])
        if found is None and stripped != parts[-1]:  # Label Studio upload: `<project>/<hash>-<name>`
            found = self._best_suffix_match([parts[-1]], parts[-1], need=1)
            if found is None:
                found = self._best_suffix_match([stripped], stripped, need=1)
        return found

    def _best_suffix_match(self, parts: list[str], name: str, need: int) -> Path | None:
        scored: list[tuple[int, int, Path]] = []  # (-score, root rank, path)
        for resolved, (rank, path) in self._index().get(name, {}).items():
            cand = resolved.parts
            score = 0
            while score < min(len(parts), len(cand)) and parts[-1 - score] == cand[-1 - score]:
                score += 1
            scored.append((-score, rank, path))
        if not scored:
            return None
        scored.sort(key=lambda t: (t[0], t[1]))
        best_score, best_rank, best_path = scored[0]
        if -best_score < need:
            return None
        tied = [t for t in scored if t[0] == best_score and t[1] == best_rank]
        return best_path if len(tied) == 1 else None

    def name_for(self, ref: str, found: Path) -> str:
        """The record name of an image found for `ref`: `ref` itself when the file sits at that relative
        path (keeps the annotation's folders), else its path relative to the deepest root."""
        ref = ref.replace("\\", "/").lstrip("/")
        if ref and found.as_posix().endswith("/" + ref) and ".." not in ref.split("/"):
            return ref
        return self.relative_name(found)

    def relative_name(self, path: Path) -> str:
        """Path of a found image relative to the deepest root it is under (posix), else its base name."""
        for root in sorted(self.roots, key=lambda r: len(r.resolve().parts), reverse=True):
            try:
                return path.resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                continue
        return path.name
