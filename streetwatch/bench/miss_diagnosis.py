"""Why the case benchmark missed a violation: what the detector saw of it, and the nearest case.

For each missed ground-truth violation and each pass it was in: how many of its labelled frames were
processed (sampled), in how many of those a detection of its class covered it (IoU >= `min_iou`), in
how many with at least its class's `min_median_score`, the best score and its largest box. Then the
nearest case of its class. One verdict sums it up:

- "rarely detected": in no pass did the class's `min_hits` frames have a detection of its class on it
  scoring at least the class's `min_median_score` (the model);
- "detected, no case near": the detector saw it well enough, but no case of its class lies within
  `near_m` (the merge distance): the tracker or a rule dropped it;
- "case at N m": a case of its class lies within `near_m` but beyond the match distance (it joined
  a neighbour's case, or its position is off).

The detections come from the benchmark's detections cache (`--detections-cache`,
detector.pipeline.read_detections_cache): without it only the
nearest case is known.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from detector.geo import distance_m
from detector.pipeline_config import CaseMerging
from detector.track import box_iou
from detector.types import Detection

# The classes whose detections count as seeing an object filed under a case class: a parked car
# in a no-parking zone is detected as `vehicle` and turned into illegal parking by a rule.
SEEN_AS = {"illegal_parking": ("illegal_parking", "vehicle")}


def _pass_view(
    obj: Any,
    classes: Sequence[str],
    detections: Mapping[int, list[Detection]],
    min_iou: float,
    min_score: float,
) -> dict[str, Any]:
    """What the detector saw of `obj` in one pass: detections of one of `classes` covering its boxes."""
    processed = seen = strong = 0
    best_score, largest = 0.0, 0.0
    for frame, box in zip(obj.frames, obj.boxes, strict=False):
        dets = detections.get(frame)
        if dets is None:
            continue  # not a sampled frame
        processed += 1
        largest = max(largest, min(box[2] - box[0], box[3] - box[1]))
        scores = [d.score for d in dets if d.class_name in classes and box_iou(d.box, box) >= min_iou]
        if scores:
            seen += 1
            strong += max(scores) >= min_score
            best_score = max(best_score, max(scores))
    return {
        "labelled_frames_processed": processed,
        "frames_detected": seen,
        "frames_at_min_score": strong,
        "best_score": round(best_score, 3),
        "largest_box_px": round(largest, 1),
    }


def explain_misses(
    missed: Sequence[Any],
    passes: Sequence[tuple[Sequence[Any], Mapping[int, list[Detection]] | None]],
    cases: Sequence[Any],
    match_m: float,
    merging: CaseMerging,
    rule_for: Callable[[str], Any],
    min_iou: float = 0.3,
) -> list[dict[str, Any]]:
    """One entry per missed object (GroundTruthObject with a case_class). `passes`: per pass, its
    ground-truth objects and the detections of its processed frames (None: not known). `merging`: the
    pipeline configuration's `cases` (a case of the class within its merge distance took the object).
    `rule_for`: the pipeline configuration's rule of a class (its min_hits and min_median_score)."""
    out = []
    for g in missed:
        rule = rule_for(g.case_class)
        classes = SEEN_AS.get(g.case_class, (g.case_class,))
        views = []
        for index, (truth, detections) in enumerate(passes):
            mine = next((o for o in truth if o.id == g.id), None)
            if mine is None or detections is None:
                continue
            seen = _pass_view(mine, classes, detections, min_iou, rule.min_median_score)
            views.append({"pass": index, **seen})
        near = [(distance_m(g.lat, g.lon, c.lat, c.lon), c) for c in cases if c.class_name == g.case_class]
        nearest = min(near, key=lambda pair: pair[0]) if near else None
        if views and all(v["frames_at_min_score"] < rule.min_hits for v in views):
            verdict = "rarely detected"
        elif nearest is not None and match_m <= nearest[0] <= merging.distance_for(g.case_class):
            verdict = f"case at {nearest[0]:.0f} m"
        elif views:
            verdict = "detected, no case near"
        else:
            verdict = "unknown (no detections cache)"
        out.append(
            {
                "id": g.id,
                "class": g.case_class,
                "verdict": verdict,
                "nearest_case_m": round(nearest[0], 1) if nearest else None,
                "passes": views,
            }
        )
    return out


def verdict_counts(entries: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many misses per verdict ("case at 12 m" and "case at 14 m" count as "case nearby")."""
    verdicts = ("case nearby" if e["verdict"].startswith("case at") else e["verdict"] for e in entries)
    return dict(Counter(verdicts))
