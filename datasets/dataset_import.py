"""`dataset import`: read a labelled dataset in any supported format, map its classes onto the
taxonomy, write one ultralytics-ready dataset. The steps are the importer, `mapping`, `writer`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from datasets.importers import read_source
from datasets.importers._common import read_image_size
from datasets.mapping import MappingOutcome, apply_mapping, load_mapping
from datasets.records import SourceDataset
from datasets.writer import ensure_empty_output, write_dataset
from detector.errors import InputError
from detector.taxonomy import load_taxonomy


@dataclass
class ImportSummary:
    out: Path
    images: int
    unlabelled: int
    groups: int
    boxes_per_class: dict[str, int]
    outcome: MappingOutcome
    skipped_images: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [
            f"wrote {self.images} images ({self.unlabelled} without labels, "
            f"{self.groups} groups) to {self.out}"
        ]
        lines += [f"  {name:24} {n:7} boxes" for name, n in self.boxes_per_class.items()]
        lines.append("  mapping:")
        lines += [f"    {src!r} -> {dst}: {n}" for (src, dst), n in sorted(self.outcome.mapped.items())]
        lines += [f"    {src!r} -> ignore: {n}" for src, n in sorted(self.outcome.ignored.items())]
        lines += [
            f"    {src!r} -> DROPPED (unmapped): {n}" for src, n in sorted(self.outcome.unmapped.items())
        ]
        lines += [f"  skipped image: {s}" for s in self.skipped_images[:20]]
        if len(self.skipped_images) > 20:
            lines.append(f"  ... and {len(self.skipped_images) - 20} more skipped images")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _warn_size_mismatches(source: SourceDataset) -> None:
    """Boxes are normalised by the size the annotation states, which stays right when the image was
    resized after labelling; a different aspect ratio (rotation, crop) is worth a look."""
    resized, reshaped = [], []
    for record in source.records:
        try:
            width, height = read_image_size(record.image)
        except InputError:
            continue  # `dataset check` reports unreadable images
        if (width, height) == (record.width, record.height):
            continue
        same_aspect = abs(width * record.height - height * record.width) <= max(width, height)
        (resized if same_aspect else reshaped).append(
            f"{record.name} is {width}x{height}, annotated as {record.width}x{record.height}"
        )
    if resized:
        source.warnings.append(
            f"{len(resized)} image(s) were resized after labelling; boxes scale with them "
            f"(first: {resized[0]})"
        )
    if reshaped:
        source.warnings.append(
            f"{len(reshaped)} image(s) differ in shape from their annotation (rotated or cropped?); "
            f"their boxes may be wrong (first: {reshaped[0]})"
        )


def import_dataset(
    src: str | Path,
    fmt: str,
    out: str | Path,
    mapping: str | Path | None = None,
    taxonomy: str | Path | None = None,
    drop_unmapped: bool = False,
    skip_missing: bool = False,
    images_dir: str | Path | None = None,
    group_regex: str | None = None,
    link: bool = False,
) -> ImportSummary:
    """Import `src` (format `fmt`) into `out`. Raises `InputError`/`ConfigError` with the file named for
    malformed annotations, unmapped class names (unless `drop_unmapped`) and missing or unreadable
    images (unless `skip_missing`); writes nothing in those cases."""
    out = Path(out)
    ensure_empty_output(out)
    tax = load_taxonomy(taxonomy)
    class_mapping = load_mapping(mapping, tax)
    source = read_source(src, fmt, images_dir, group_regex)
    if source.missing_images and not skip_missing:
        raise InputError(
            f"{len(source.missing_images)} referenced image(s) missing or unreadable "
            f"(first: {source.missing_images[0]}); fix the paths, give --images DIR, or pass --skip-missing",
            src,
        )
    if not source.records:
        raise InputError("no images to import", src)
    if fmt != "yolo":  # YOLO sizes come from the files already
        _warn_size_mismatches(source)
    outcome = apply_mapping(source.records, class_mapping, tax, drop_unmapped, source=str(mapping or src))
    boxes = Counter(box.label for r in source.records for box in r.boxes)
    provenance = {
        "source": str(Path(src).resolve()),
        "format": fmt,
        "mapping": str(Path(mapping).resolve()) if mapping else None,
        "taxonomy_version": tax.version,
        "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "images": len(source.records),
        "boxes_per_class": {n: boxes.get(n, 0) for n in tax.model_names},
        "mapped": [{"source": s, "class": d, "boxes": n} for (s, d), n in sorted(outcome.mapped.items())],
        "ignored": dict(outcome.ignored),
        "dropped_unmapped": dict(outcome.unmapped),
        "skipped_images": source.missing_images,
        "warnings": source.warnings,
    }
    write_dataset(source.records, tax, out, link=link, provenance=provenance)
    return ImportSummary(
        out=out,
        images=len(source.records),
        unlabelled=sum(not r.labelled for r in source.records),
        groups=len({r.group for r in source.records if r.group}),
        boxes_per_class={n: boxes.get(n, 0) for n in tax.model_names},
        outcome=outcome,
        skipped_images=source.missing_images,
        warnings=source.warnings,
    )
