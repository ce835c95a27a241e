"""`dataset check`: find what would silently hurt training, per file, and fix nothing.

Errors: corrupt or unreadable images (decoded fully, truncated JPEGs included), boxes outside the
image, zero-area or sub-pixel boxes, unknown class ids, malformed label lines, exact duplicate
images (sha256), images without a label file (an image with no objects needs an empty one), images
under 10 px a side. Warnings: label files without an image, repeated identical boxes, images with an
EXIF orientation (loaders turn them, so boxes are checked against the turned size).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from datasets.layout import class_names, dataset_images, image_root, label_path, parse_label_text

ERROR, WARNING = "error", "warning"
# Tolerance for boxes touching the border: coordinates are written with 6 decimals.
EDGE_TOLERANCE_PX = 0.5
# ultralytics refuses images with a side under 10 px.
MIN_IMAGE_SIDE = 10
EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True, slots=True)
class Issue:
    file: str
    kind: str
    severity: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{self.severity.upper():7} {where}: {self.message} [{self.kind}]"


@dataclass
class CheckReport:
    root: str
    class_names: list[str]
    images: int = 0
    label_files: int = 0
    boxes_per_class: dict[str, int] = field(default_factory=dict)
    empty_label_files: int = 0
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == WARNING]

    def to_dict(self) -> dict:
        return {
            "root": self.root,
            "class_names": self.class_names,
            "summary": {
                "images": self.images,
                "label_files": self.label_files,
                "empty_label_files": self.empty_label_files,
                "boxes_per_class": self.boxes_per_class,
                "errors": len(self.errors),
                "warnings": len(self.warnings),
                "errors_by_kind": dict(Counter(i.kind for i in self.errors)),
                "warnings_by_kind": dict(Counter(i.kind for i in self.warnings)),
            },
            "issues": [asdict(i) for i in self.issues],
        }

    def summary_text(self) -> str:
        d = self.to_dict()["summary"]
        per_class = ", ".join(f"{n} {c}" for n, c in self.boxes_per_class.items())
        kinds = lambda counts: ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))  # noqa: E731
        lines = [
            f"checked {self.images} images, {self.label_files} label files in {self.root}",
            f"  boxes per class: {per_class}",
            f"  images with no objects (empty label file): {self.empty_label_files}",
            f"  errors: {d['errors']}" + (f" ({kinds(d['errors_by_kind'])})" if d["errors"] else ""),
            f"  warnings: {d['warnings']}" + (f" ({kinds(d['warnings_by_kind'])})" if d["warnings"] else ""),
        ]
        return "\n".join(lines)


@dataclass
class _ImageResult:
    path: Path
    sha256: str | None
    size: tuple[int, int] | None
    """(width, height) as loaders see it: after the EXIF orientation turn."""
    problem: str | None
    orientation: int = 1
    kind: str = "corrupt-image"


def jpeg_end(data: bytes) -> int | None:
    """Offset just past the primary image's end-of-image marker (FFD9), or None when the data ends first.

    Walks the marker segments and the entropy-coded scans rather than looking at the last two bytes,
    so trailers that phones append after the image (motion-photo video, maker data) are not mistaken
    for damage, and a file cut inside its last scan is caught even where the decoder pads it."""
    n = len(data)
    if n < 4 or data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 1 < n:
        if data[pos] != 0xFF:
            return None  # not at a marker: broken structure
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            return pos + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        if pos + 3 >= n:
            return None
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker != 0xDA:  # not start-of-scan: skip the segment
            pos = end
            continue
        pos = end  # entropy-coded data follows; the next marker is FF not followed by 00 or RSTn
        while True:
            pos = data.find(b"\xff", pos)
            if pos < 0 or pos + 1 >= n:
                return None
            following = data[pos + 1]
            if following == 0x00 or 0xD0 <= following <= 0xD7:
                pos += 2
            elif following == 0xFF:
                pos += 1
            else:
                break
    return None


def inspect_image(path: Path) -> _ImageResult:
    """Hash the bytes and decode the whole image; a truncated or corrupt file gives a problem."""
    from PIL import Image

    try:
        data = path.read_bytes()
    except OSError as exc:
        return _ImageResult(path, None, None, f"unreadable file: {exc.strerror}")
    digest = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()  # structure and checksums (PNG CRCs)
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # full decode: raises on truncated data
            size = (img.width, img.height)
            fmt = img.format
            orientation = int(img.getexif().get(EXIF_ORIENTATION, 1) or 1)
    except Exception as exc:  # noqa: BLE001 - any decoder failure means the file is unusable
        # (ultralytics, once imported, patches Image.open to raise other errors for unknown files)
        return _ImageResult(path, digest, None, f"corrupt image: {exc or type(exc).__name__}")
    if fmt == "JPEG" and jpeg_end(data) is None:
        return _ImageResult(
            path, digest, size, "truncated JPEG: the data ends before the end-of-image marker"
        )
    if orientation in (5, 6, 7, 8):  # OpenCV and ultralytics turn these a quarter on loading
        size = (size[1], size[0])
    if min(size) < MIN_IMAGE_SIDE:
        return _ImageResult(
            path, digest, None, f"image too small to train on ({size[0]}x{size[1]} px)", kind="tiny-image"
        )
    return _ImageResult(path, digest, size, None, orientation)


def _check_labels(
    rel: str, text: str, size: tuple[int, int] | None, names: list[str], report: CheckReport
) -> None:
    seen: set[tuple] = set()
    for lab in parse_label_text(text):
        if lab.error:
            report.issues.append(Issue(rel, "malformed-label", ERROR, lab.error, lab.line))
            continue
        if not 0 <= lab.cls < len(names):
            report.issues.append(
                Issue(
                    rel,
                    "unknown-class",
                    ERROR,
                    f"class id {lab.cls} is not one of the {len(names)} classes",
                    lab.line,
                )
            )
            continue
        key = (lab.cls, lab.cx, lab.cy, lab.w, lab.h)
        if key in seen:
            report.issues.append(Issue(rel, "duplicate-box", WARNING, "same box twice", lab.line))
        seen.add(key)
        report.boxes_per_class[names[lab.cls]] += 1
        if lab.w <= 0 or lab.h <= 0:
            report.issues.append(
                Issue(rel, "zero-area", ERROR, f"zero-area box (w={lab.w:g}, h={lab.h:g})", lab.line)
            )
            continue
        if size is None:
            continue
        width, height = size
        x1, x2 = (lab.cx - lab.w / 2) * width, (lab.cx + lab.w / 2) * width
        y1, y2 = (lab.cy - lab.h / 2) * height, (lab.cy + lab.h / 2) * height
        if lab.w * width < 1 or lab.h * height < 1:
            report.issues.append(
                Issue(
                    rel,
                    "zero-area",
                    ERROR,
                    f"box smaller than 1 px ({lab.w * width:.2f}x{lab.h * height:.2f} px)",
                    lab.line,
                )
            )
        tol = EDGE_TOLERANCE_PX
        if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
            report.issues.append(
                Issue(
                    rel,
                    "box-outside",
                    ERROR,
                    f"box outside the {width}x{height} image: ({x1:.1f}, {y1:.1f})-({x2:.1f}, {y2:.1f}) px",
                    lab.line,
                )
            )


def check_dataset(root: str | Path, taxonomy_path: str | Path | None = None, workers: int = 2) -> CheckReport:
    """Check a YOLO dataset folder (as `dataset import` writes it). Reads everything, changes nothing."""
    root = Path(root)
    images = dataset_images(root)
    names = class_names(root, taxonomy_path)
    report = CheckReport(root=str(root), class_names=names, images=len(images))
    report.boxes_per_class = dict.fromkeys(names, 0)
    report.boxes_per_class = Counter(report.boxes_per_class)

    def rel(path: Path) -> str:
        return path.relative_to(root).as_posix()

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(
            tqdm(pool.map(inspect_image, images), total=len(images), desc="check", unit="img", disable=None)
        )
    by_hash: dict[str, list[Path]] = defaultdict(list)
    expected_labels: set[Path] = set()
    for res in results:
        if res.problem:
            report.issues.append(Issue(rel(res.path), res.kind, ERROR, res.problem))
        if res.sha256:
            by_hash[res.sha256].append(res.path)
        if res.orientation != 1 and res.size:
            report.issues.append(
                Issue(
                    rel(res.path),
                    "exif-rotated",
                    WARNING,
                    f"EXIF orientation {res.orientation}: loaders show it as {res.size[0]}x{res.size[1]}; "
                    "its boxes must have been drawn on that view",
                )
            )
        label = label_path(res.path, root)
        expected_labels.add(label.resolve())
        if not label.is_file():
            report.issues.append(
                Issue(
                    rel(res.path),
                    "missing-label",
                    ERROR,
                    f"no label file {rel(label)} (an image with no objects needs an empty one)",
                )
            )
            continue
        report.label_files += 1
        text = label.read_text(encoding="utf-8-sig", errors="replace")
        if not text.strip():
            report.empty_label_files += 1
        _check_labels(rel(label), text, res.size, names, report)
    for paths in by_hash.values():
        if len(paths) > 1:
            first = rel(sorted(paths)[0])
            for dup in sorted(paths)[1:]:
                report.issues.append(Issue(rel(dup), "duplicate-image", ERROR, f"same bytes as {first}"))
    labels_dir = root / "labels" if image_root(root) != root else root
    if labels_dir.is_dir():
        for txt in sorted(labels_dir.rglob("*.txt")):
            if txt.resolve() in expected_labels or txt.name == "classes.txt" or txt.parent == root:
                continue
            report.issues.append(Issue(rel(txt), "orphan-label", WARNING, "label file without an image"))
    report.issues.sort(key=lambda i: (i.file, i.line or 0, i.kind))
    report.boxes_per_class = dict(report.boxes_per_class)
    return report


def write_json(report: CheckReport, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
