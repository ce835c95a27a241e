"""`streetwatch dataset from-reviews`: inspectors' decisions become training data for the next model.

Confirmed cases (confirmed and every later state of the loop) and corrected cases (a `correct`
action in their history) become labelled images; rejected cases become background images (an
image with an empty label file: a hard negative, what the model wrongly flagged). Voided and
still-pending, uncorrected cases are left out: nobody decided what they show.

Output: the YOLO import format of the training pipeline (datasets/importers/yolo.py):
`images/<name>.jpg`, `labels/<name>.txt` (`class cx cy w h`, normalised), `data.yaml` (`names` in
taxonomy order) and `groups.csv` (`image,group`: the footage/stream an image came from, so a split
keeps all images of one pass on the same side).

Which pixels: the raw crop of every observation (the box plus the evidence margin, unmodified
pixels), stored, or cut now from the original frame a live observation keeps. The full evidence
frame is not used because it has the box drawn into it, and
a model must never learn to look for our own red rectangles. The box inside the crop is recovered
exactly from the observation's box and the pipeline's `evidence.crop_margin`.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from detector.errors import InputError
from detector.taxonomy import Taxonomy, default_taxonomy

CONFIRMED_STATES = ("confirmed", "dispatched", "handled", "verified", "closed")


@dataclass
class FromReviewsSummary:
    labelled: int = 0
    background: int = 0
    boxes: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def box_in_crop(
    box: list[float], crop_w: int, crop_h: int, margin: float
) -> tuple[float, float, float, float]:
    """The detection box in the coordinates of its evidence crop (see detector.events._crop)."""
    x1, y1, x2, y2 = box
    left = max(0, math.floor(x1 - (x2 - x1) * margin))
    top = max(0, math.floor(y1 - (y2 - y1) * margin))
    bx1, by1 = max(0.0, x1 - left), max(0.0, y1 - top)
    bx2, by2 = min(float(crop_w), x2 - left), min(float(crop_h), y2 - top)
    return bx1, by1, bx2, by2


def yolo_line(class_id: int, box: tuple[float, float, float, float], width: int, height: int) -> str | None:
    x1, y1, x2, y2 = box
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
    return f"{class_id} {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"


def _cases(store: Any, statuses: list[str]) -> list[Any]:
    from serve.store.types import CaseFilter

    cases, cursor = [], None
    while True:
        page = store.cases.list_cases(CaseFilter(statuses=statuses), cursor, 500)
        cases.extend(page.items)
        if not page.next_cursor:
            return cases
        cursor = page.next_cursor


def _image_size(data: bytes) -> tuple[int, int]:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return int(img.width), int(img.height)


def export_reviews(
    db_url: str,
    evidence: str | Path,
    out: str | Path,
    taxonomy: Taxonomy | None = None,
    crop_margin: float | None = None,
) -> FromReviewsSummary:
    """Write the reviewed cases of the store at `db_url` as a YOLO dataset under `out`."""
    from detector.pipeline_config import load_pipeline_config
    from serve.store import CaseStore

    taxonomy = taxonomy or default_taxonomy()
    # a live observation keeps its original frame: its crop is cut now, with the margin used below
    evidence_settings = load_pipeline_config().evidence
    if crop_margin is not None:
        evidence_settings = evidence_settings.model_copy(update={"crop_margin": crop_margin})
    crop_margin = evidence_settings.crop_margin
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError("output folder exists and is not empty", out)
    store = CaseStore.open(db_url, str(evidence))
    summary = FromReviewsSummary()
    try:
        pending = _cases(store, ["pending_review"])
        candidates = _cases(store, [*CONFIRMED_STATES, "rejected"]) + pending
        (out / "images").mkdir(parents=True, exist_ok=True)
        (out / "labels").mkdir(parents=True, exist_ok=True)
        groups: list[tuple[str, str]] = []
        for case in tqdm(candidates, desc="cases", unit="case", disable=None):
            detail = store.cases.get_case_detail(case.id)
            corrected = any(h.action == "correct" for h in detail.history)
            status = str(case.status)
            if status == "rejected":
                positive = False
            elif status in CONFIRMED_STATES or corrected:
                positive = True
            else:
                continue  # pending and uncorrected: no decision yet
            try:
                class_id = taxonomy.by_name(case.class_name).id
            except KeyError:
                summary.skip("class not in taxonomy")
                continue
            for obs in detail.observations:
                if obs.kind != "detection":
                    continue
                if not (obs.crop_key or obs.frame_key) or not obs.box:
                    summary.skip("no crop stored")
                    continue
                try:
                    data = store.cases.observation_evidence(obs.id, "crop", evidence_settings)
                except (KeyError, InputError):
                    summary.skip("crop missing from evidence storage")
                    continue
                width, height = _image_size(data)
                name = f"case{case.id:06d}_obs{obs.id:06d}"
                label = ""
                if positive:
                    line = yolo_line(
                        class_id, box_in_crop(obs.box, width, height, crop_margin), width, height
                    )
                    if line is None:
                        summary.skip("degenerate box")
                        continue
                    label = line + "\n"
                    summary.boxes += 1
                    summary.labelled += 1
                else:
                    summary.background += 1
                (out / "images" / f"{name}.jpg").write_bytes(data)
                (out / "labels" / f"{name}.txt").write_text(label, encoding="utf-8")
                groups.append((f"images/{name}.jpg", obs.source or obs.vehicle_id or f"case{case.id}"))
        (out / "data.yaml").write_text(
            yaml.safe_dump(
                {"path": ".", "train": "images", "names": taxonomy.model_names},
                allow_unicode=True,
                sort_keys=False,
            ),
            encoding="utf-8",
        )
        with (out / "groups.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["image", "group"])
            writer.writerows(groups)
    finally:
        store.close()
    return summary
