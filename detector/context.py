"""What the context classes say about the violations around them, and what evidence must hide.

A violation box that lies mostly on a person is a person, not a violation: real streets are full of
people, and a model that has seen few of them calls a pedestrian with a bag "exposed garbage".
`PersonVeto` drops such boxes before tracking, wherever detections enter the pipeline (footage, live
frames, `streetwatch detect`). `people_boxes` records where the people of an evidence frame are, as
fractions of the frame, so that a published copy of the evidence can blur them (`blur_regions`).

    >>> from detector.types import Detection
    >>> veto = PersonVeto({"exposed_garbage"}, min_cover=0.6)
    >>> person = Detection(100, 50, 160, 250, 0.9, 6, "person")
    >>> bag = Detection(110, 150, 150, 240, 0.5, 4, "exposed_garbage")   # inside the person's box
    >>> pile = Detection(300, 200, 400, 260, 0.6, 4, "exposed_garbage")  # on the ground, apart
    >>> [d.class_name for d in veto([person, bag, pile])]
    ['person', 'exposed_garbage']
    >>> people_boxes([person, pile], 640, 480)
    [[0.1562, 0.1042, 0.25, 0.5208]]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from detector.types import Detection

PERSON = "person"


def _cover(inner: Detection, outer: Detection) -> float:
    """The share of `inner`'s area that lies inside `outer`."""
    w = min(inner.x2, outer.x2) - max(inner.x1, outer.x1)
    h = min(inner.y2, outer.y2) - max(inner.y1, outer.y1)
    if w <= 0 or h <= 0:
        return 0.0
    return (w * h) / max(inner.area, 1e-9)


class PersonVeto:
    """Drops violation detections that are mostly a person box.

    A violation box counts as a person when at least `min_cover` of its area lies inside a person box
    that is not much smaller than it (the violation box at most `max_area_ratio` times the person's):
    a stall with its vendor, or a garbage heap with someone beside it, keeps its larger box.
    """

    def __init__(self, violation_names: Iterable[str], min_cover: float = 0.6, max_area_ratio: float = 1.5):
        self.violation_names = frozenset(violation_names) - {PERSON}  # a person never vetoes itself
        self.min_cover = float(min_cover)
        self.max_area_ratio = float(max_area_ratio)

    def is_person(self, det: Detection, people: Sequence[Detection]) -> bool:
        return any(
            det.area <= self.max_area_ratio * p.area and _cover(det, p) >= self.min_cover for p in people
        )

    def __call__(self, detections: list[Detection]) -> list[Detection]:
        people = [d for d in detections if d.class_name == PERSON]
        if not people:
            return detections
        return [
            d for d in detections if d.class_name not in self.violation_names or not self.is_person(d, people)
        ]


def people_boxes(detections: Iterable[Detection], width: int, height: int) -> list[list[float]]:
    """The person boxes of a frame as [x1, y1, x2, y2] fractions of its width and height."""
    return [
        [round(d.x1 / width, 4), round(d.y1 / height, 4), round(d.x2 / width, 4), round(d.y2 / height, 4)]
        for d in detections
        if d.class_name == PERSON
    ]


def blur_regions(image: np.ndarray, boxes: Iterable[Sequence[float]], margin: float = 0.1) -> np.ndarray:
    """A copy of `image` with each box (fractions of the image, as `people_boxes` gives them) blurred
    beyond recognition: pixelated to 8 px blocks of the box's own size, then smoothed."""
    import cv2

    out = image.copy()
    h, w = image.shape[:2]
    for x1, y1, x2, y2 in boxes:
        mx, my = (x2 - x1) * margin, (y2 - y1) * margin
        left, top = max(0, int((x1 - mx) * w)), max(0, int((y1 - my) * h))
        right, bottom = min(w, int(np.ceil((x2 + mx) * w))), min(h, int(np.ceil((y2 + my) * h)))
        if right - left < 2 or bottom - top < 2:
            continue
        region = out[top:bottom, left:right]
        small = cv2.resize(region, (max(1, (right - left) // 8), max(1, (bottom - top) // 8)),
                           interpolation=cv2.INTER_AREA)  # fmt: skip
        coarse = cv2.resize(small, (right - left, bottom - top), interpolation=cv2.INTER_NEAREST)
        out[top:bottom, left:right] = cv2.GaussianBlur(coarse, (0, 0), sigmaX=max(2.0, (right - left) / 16))
    return out
