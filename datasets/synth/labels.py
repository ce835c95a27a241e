"""Boxes from the id buffer: exact extents of each labelled object's visible pixels, with visibility rules."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from datasets.synth.render import SHIFT, DrawnObject

MIN_SIDE_PX = 8
MIN_VISIBLE = 0.15  # objects more than 85 % hidden (occluded or outside the frame) get no label


@dataclass
class Visibility:
    oid: int
    visible_px: int
    full_px: int
    in_frame: float  # share of the unclipped projected box that lies inside the image

    @property
    def fraction(self) -> float:
        return (self.visible_px / max(1, self.full_px)) * self.in_frame


def visibility(ids: np.ndarray, oid: int, rec: DrawnObject) -> Visibility | None:
    """How much of an object survived occlusion; measured before any lens distortion."""
    h, w = ids.shape
    xs, ys = [], []
    for q in rec.polys:
        xs += [q[:, 0].min(), q[:, 0].max()]
        ys += [q[:, 1].min(), q[:, 1].max()]
    for cx, cy, ax, ay in rec.ellipses:
        xs += [cx - ax, cx + ax]
        ys += [cy - ay, cy + ay]
    if not xs:
        return None
    one = float(1 << SHIFT)
    fx0, fx1, fy0, fy1 = min(xs) / one, max(xs) / one, min(ys) / one, max(ys) / one
    full_area = max(1e-6, (fx1 - fx0) * (fy1 - fy0))
    x0, x1 = max(0, int(np.floor(fx0))), min(w, int(np.ceil(fx1)) + 1)
    y0, y1 = max(0, int(np.floor(fy0))), min(h, int(np.ceil(fy1)) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    in_frame = min(1.0, (x1 - x0) * (y1 - y0) / full_area)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    off = np.array([x0 << SHIFT, y0 << SHIFT], np.int32)
    if rec.polys:
        cv2.fillPoly(mask, [q - off for q in rec.polys], 1, cv2.LINE_8, SHIFT)
    for cx, cy, ax, ay in rec.ellipses:
        cv2.ellipse(mask, (cx - int(off[0]), cy - int(off[1])), (ax, ay), 0, 0, 360, 1, -1, cv2.LINE_8, SHIFT)
    full = int(mask.sum())
    visible = int(np.count_nonzero(ids[y0:y1, x0:x1] == oid))
    return Visibility(oid, visible, max(full, visible), in_frame)


def box_of(ids: np.ndarray, oid: int) -> tuple[int, int, int, int] | None:
    """Pixel-exact box (x1, y1, x2, y2; x2/y2 exclusive) of the pixels carrying `oid`."""
    m = ids == oid
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(m[rows[0] : rows[-1] + 1].any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def keep(vis: Visibility, box: tuple[int, int, int, int]) -> bool:
    """Label an object when it is big enough and not mostly hidden.

    Occlusion counts against the object's in-frame area; truncation at the border only drops objects whose
    visible part is small (a car cut by the frame edge but filling a third of the image is still labelled).
    """
    if box[2] - box[0] < MIN_SIDE_PX or box[3] - box[1] < MIN_SIDE_PX:
        return False
    if vis.visible_px / max(1, vis.full_px) < MIN_VISIBLE:
        return False
    return vis.in_frame >= MIN_VISIBLE or vis.visible_px >= 4000
