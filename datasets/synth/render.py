"""Render one frame of a street: sky, facades, shop interiors, ground, shadows, objects (painter's order).

Big planar surfaces (road, pavement, facades) are painted into world-anchored canvases and warped into
the image with their plane homography; objects are projected polygons and ellipses. Every object is
also drawn into an id buffer (uint16) so labels come from the pixels that stayed visible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from datasets.synth import textures as tx
from datasets.synth.camera import NEAR_PLANE_M, Camera
from datasets.synth.look import Look
from datasets.synth.shapes import Part, SceneObject
from datasets.synth.world import Building, Street

SHIFT = 4
EMISSIVE = 200  # canvas alpha of self-lit pixels (opaque, not dimmed at night)
_COS16 = np.cos(np.linspace(0, 2 * np.pi, 16, endpoint=False))
_SIN16 = np.sin(np.linspace(0, 2 * np.pi, 16, endpoint=False))
ONE = 1 << SHIFT
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass
class DrawnObject:
    """How one labelled object was drawn: for the unoccluded area and the truncation at image borders."""

    polys: list[np.ndarray] = field(default_factory=list)  # int32 pixel coords << SHIFT
    ellipses: list[tuple] = field(default_factory=list)  # (cx, cy, ax, ay) << SHIFT


@dataclass
class RenderResult:
    image: np.ndarray  # HxWx3 uint8 BGR
    ids: np.ndarray  # HxW uint16: object id of each pixel, 0 = background / unlabelled
    drawn: dict[int, DrawnObject]
    depth: np.ndarray | None = None


class Projector:
    def __init__(self, cam: Camera) -> None:
        self.cam = cam
        self.R = cam.rotation()
        self.pos = cam.position
        self.f = cam.fx
        self.cx = cam.cx
        self.cy = cam.cy

    def to_cam(self, pts: np.ndarray) -> np.ndarray:
        return (pts - self.pos) @ self.R.T

    def poly(self, pts: np.ndarray) -> np.ndarray | None:
        """Project a 3D polygon, clipped against the near plane; None when wholly behind it."""
        c = self.to_cam(pts)
        z = c[:, 2]
        if np.all(z < NEAR_PLANE_M):
            return None
        if np.any(z < NEAR_PLANE_M):
            c = _clip_near(c)
            if len(c) < 3:
                return None
        uv = np.empty((len(c), 2))
        uv[:, 0] = self.f * c[:, 0] / c[:, 2] + self.cx
        uv[:, 1] = self.f * c[:, 1] / c[:, 2] + self.cy
        return np.clip(uv, -1e5, 1e5)

    def point(self, p: np.ndarray) -> tuple[float, float, float] | None:
        c = self.to_cam(p[None, :])[0]
        if c[2] < NEAR_PLANE_M:
            return None
        return self.f * c[0] / c[2] + self.cx, self.f * c[1] / c[2] + self.cy, c[2]


def _clip_near(c: np.ndarray) -> np.ndarray:
    out = []
    n = len(c)
    for i in range(n):
        a, b = c[i], c[(i + 1) % n]
        ina, inb = a[2] >= NEAR_PLANE_M, b[2] >= NEAR_PLANE_M
        if ina:
            out.append(a)
        if ina != inb:
            k = (NEAR_PLANE_M - a[2]) / (b[2] - a[2])
            out.append(a + k * (b - a))
    return np.array(out)


def _fix(uv: np.ndarray) -> np.ndarray:
    return np.round(uv * ONE).astype(np.int32)


def _shade(color, k: float) -> tuple[float, float, float]:
    return (min(255.0, color[0] * k), min(255.0, color[1] * k), min(255.0, color[2] * k))


# ------------------------------------------------------------------ canvases


@dataclass
class Canvas:
    """A world-anchored raster on a plane: pixel (j, i) -> origin + j*axis_u + i*axis_v."""

    origin: np.ndarray
    axis_u: np.ndarray
    axis_v: np.ndarray
    data: np.ndarray  # rows x cols x 4 (BGRA)


def _warp_into(
    img: np.ndarray,
    proj: Projector,
    canvas: Canvas,
    valid: np.ndarray | None,
    dim: float = 1.0,
) -> None:
    """Warp a canvas into the image where it is opaque (alpha > 127) and `valid`.

    With `dim` < 1 (night) the canvas is darkened except its emissive pixels (alpha EMISSIVE: lit signs,
    windows and shop fronts).
    """
    rows, cols = canvas.data.shape[:2]
    corners = np.array(
        [
            canvas.origin,
            canvas.origin + cols * canvas.axis_u,
            canvas.origin + cols * canvas.axis_u + rows * canvas.axis_v,
            canvas.origin + rows * canvas.axis_v,
        ]
    )
    uv = proj.poly(corners)
    if uv is None:
        return
    h, w = img.shape[:2]
    x0, y0 = max(0, int(np.floor(uv[:, 0].min()))), max(0, int(np.floor(uv[:, 1].min())))
    x1, y1 = min(w, int(np.ceil(uv[:, 0].max())) + 1), min(h, int(np.ceil(uv[:, 1].max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    H = proj.cam.plane_homography(canvas.origin, canvas.axis_u, canvas.axis_v)
    T = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], dtype=np.float64)
    out = cv2.warpPerspective(
        canvas.data,
        T @ H,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0, 0),
    )
    _, mask = cv2.threshold(out[..., 3], 127, 255, cv2.THRESH_BINARY)
    if valid is not None:
        mask = cv2.bitwise_and(mask, valid[y0:y1, x0:x1])
    roi = img[y0:y1, x0:x1]
    rgb = cv2.cvtColor(out, cv2.COLOR_BGRA2BGR)
    if dim < 0.999:
        lit = cv2.inRange(out[..., 3], 128, 229)
        dimmed = cv2.convertScaleAbs(rgb, alpha=dim)
        cv2.copyTo(rgb, lit, dimmed)
        rgb = dimmed
    cv2.copyTo(rgb, mask, roi)


def _tex_fill(
    canvas: np.ndarray,
    res: float,
    factor: int,
    origin_rc: tuple[float, float],
    poly_px: np.ndarray,
    tex: str,
    tint,
    rect: bool = False,
) -> None:
    """Fill a polygon (canvas pixel coords, float) of a BGRA canvas with a world-anchored texture."""
    rows, cols = canvas.shape[:2]
    c0 = max(0, int(np.floor(poly_px[:, 0].min())))
    c1 = min(cols, int(np.ceil(poly_px[:, 0].max())) + 1)
    r0 = max(0, int(np.floor(poly_px[:, 1].min())))
    r1 = min(rows, int(np.ceil(poly_px[:, 1].max())) + 1)
    if c1 <= c0 or r1 <= r0:
        return
    patch = tx.sample(tex, factor, int(origin_rc[0]) + r0, int(origin_rc[1]) + c0, r1 - r0, c1 - c0)
    if any(abs(k - 1.0) > 1e-3 for k in tint):
        patch = cv2.multiply(patch, (*tint, 0.0))
    dst = canvas[r0:r1, c0:c1]
    if rect:
        dst[..., :3] = patch
        dst[..., 3] = 255
        return
    mask = np.zeros((r1 - r0, c1 - c0), np.uint8)
    cv2.fillPoly(mask, [_fix(poly_px - [c0, r0])], 255, cv2.LINE_AA, SHIFT)
    a = mask[..., None].astype(np.float32) * (1.0 / 255.0)
    dst[..., :3] = (dst[..., :3] * (1 - a) + patch * a).astype(np.uint8)
    dst[..., 3] = np.maximum(dst[..., 3], mask)


class GroundPainter:
    """Paints the road (z = 0) or the pavement (z = kerb height) of a street window into a canvas."""

    def __init__(self, st: Street, s0: float, s1: float, t0: float, t1: float, z: float, factor: int) -> None:
        self.st = st
        self.res = tx.TEX_RES * factor
        self.factor = factor
        # anchor to the texture grid so textures do not swim between frames
        self.s0 = math.floor(s0 / self.res) * self.res
        self.t0 = math.floor(t0 / self.res) * self.res
        cols = max(2, int(math.ceil((s1 - self.s0) / self.res)))
        rows = max(2, int(math.ceil((t1 - self.t0) / self.res)))
        self.data = np.zeros((rows, cols, 4), np.uint8)
        self.z = z
        self.anchor = (round(self.t0 / self.res), round(self.s0 / self.res))
        self.s1 = self.s0 + cols * self.res
        self.t1 = self.t0 + rows * self.res

    def px(self, st_pts: np.ndarray) -> np.ndarray:
        p = np.asarray(st_pts, dtype=np.float64)
        return np.stack([(p[:, 0] - self.s0) / self.res, (p[:, 1] - self.t0) / self.res], axis=1)

    def rect(self, s0, s1, t0, t1) -> np.ndarray:
        return np.array([[s0, t0], [s1, t0], [s1, t1], [s0, t1]], dtype=np.float64)

    def fill_tex(self, poly_st: np.ndarray, tex: str, tint=(1.0, 1.0, 1.0), rect: bool = False) -> None:
        _tex_fill(self.data, self.res, self.factor, self.anchor, self.px(poly_st), tex, tint, rect)

    def fill_color(self, poly_st: np.ndarray, color, alpha: float = 1.0) -> None:
        px = self.px(poly_st)
        rows, cols = self.data.shape[:2]
        c0 = max(0, int(np.floor(px[:, 0].min())))
        c1 = min(cols, int(np.ceil(px[:, 0].max())) + 1)
        r0 = max(0, int(np.floor(px[:, 1].min())))
        r1 = min(rows, int(np.ceil(px[:, 1].max())) + 1)
        if c1 <= c0 or r1 <= r0:
            return
        roi = self.data[r0:r1, c0:c1]
        pts = _fix(px - [c0, r0])
        if alpha >= 0.999:
            cv2.fillPoly(roi, [pts], (*color, 255), cv2.LINE_AA, SHIFT)
            return
        layer = roi.copy()
        cv2.fillPoly(layer, [pts], (*color, 255), cv2.LINE_AA, SHIFT)
        cv2.addWeighted(layer, alpha, roi, 1 - alpha, 0, dst=roi)

    def canvas(self) -> Canvas:
        return Canvas(
            np.array([self.s0, self.t0, self.z]),
            np.array([self.res, 0, 0.0]),
            np.array([0, self.res, 0.0]),
            self.data,
        )

    def visible(self, s0, s1, t0=-1e9, t1=1e9) -> bool:
        return s1 > self.s0 and s0 < self.s1 and t1 > self.t0 and t0 < self.t1


def paint_road(g: GroundPainter, st: Street) -> None:
    g.fill_tex(g.rect(g.s0, g.s1, max(g.t0, -st.road_w), g.t1), st.road_tex, st.road_tint, rect=True)
    # darker, polished tyre tracks in every lane
    lanes = st.lane_centres()
    if st.two_way:
        lanes = lanes + [-st.road_w - c for c in lanes]
    for c in lanes:
        for off in (-0.85, 0.85):
            if g.t0 < c + off < g.t1:
                g.fill_color(g.rect(g.s0, g.s1, c + off - 0.3, c + off + 0.3), (62, 63, 66), 0.18)
    # far pavement (drawn flat) and its kerb
    if g.t0 < -st.road_w:
        g.fill_tex(g.rect(g.s0, g.s1, g.t0, -st.road_w), "paving_sq", (0.95, 0.95, 0.95), rect=True)
        g.fill_color(g.rect(g.s0, g.s1, -st.road_w - 0.25, -st.road_w), (150, 152, 155))
    # gutter along the kerb
    g.fill_color(g.rect(g.s0, g.s1, -0.35, 0.0), (70, 72, 75), 0.35)
    white, yellow = (225, 228, 230), (40, 185, 225)
    if st.two_way:
        c = -st.road_w / 2
        g.fill_color(g.rect(g.s0, g.s1, c - 0.22, c - 0.08), yellow, 0.9)
        g.fill_color(g.rect(g.s0, g.s1, c + 0.08, c + 0.22), yellow, 0.9)
    lanes = st.lane_centres()
    for lane in lanes[:-1]:
        tl = lane - st.lane_w / 2
        s = math.floor(g.s0 / 15.0) * 15.0
        while s < g.s1:
            g.fill_color(g.rect(s, s + 6.0, tl - 0.075, tl + 0.075), white, 0.85)
            s += 15.0
    if st.road_bays:
        for b in st.road_bays:
            if not g.visible(b.s0 - 1, b.s1 + 1):
                continue
            for edge in (b.s0, b.s1):
                g.fill_color(g.rect(edge - 0.06, edge + 0.06, b.t0, b.t1), b.color, 0.9)
            g.fill_color(g.rect(b.s0, b.s1, b.t0, b.t0 + 0.12), b.color, 0.9)
    for s0, s1 in st.crossings:
        if not g.visible(s0 - 1, s1 + 1):
            continue
        t = -st.road_w + 0.3
        while t < -0.3:
            g.fill_color(g.rect(s0, s1, t, t + 0.45), white, 0.88)
            t += 1.0
        g.fill_color(
            g.rect(s0 - 1.5, s0 - 1.2, -st.road_w / 2 if st.two_way else -st.road_w, -0.3), white, 0.85
        )
    for s0, s1 in st.yellow_kerb:
        if g.visible(s0, s1):
            g.fill_color(g.rect(s0, s1, -0.22, -0.1), yellow, 0.85)
    # manholes and stains at world-anchored pseudo-random spots
    for k in range(int(g.s0 // 23), int(g.s1 // 23) + 1):
        r = np.random.default_rng([st.seed, 7, k + 1_000_000])
        s = k * 23 + r.uniform(0, 23)
        t = -r.uniform(0.8, st.road_w - 0.8)
        pts = np.array([[s + 0.35 * math.cos(a), t + 0.35 * math.sin(a)] for a in np.linspace(0, 6.28, 20)])
        g.fill_color(pts, (60, 62, 66), 0.9)
        s2 = k * 23 + r.uniform(0, 23)
        stain = np.array(
            [
                [
                    s2 + r.uniform(0.5, 1.6) * math.cos(a),
                    -r.uniform(1, st.road_w - 1) * 0 + (-r.uniform(1.0, 2.0)) + 0.6 * math.sin(a),
                ]
                for a in np.linspace(0, 6.28, 14)
            ]
        )
        g.fill_color(stain, (50, 52, 55), 0.25)


def paint_pavement(g: GroundPainter, st: Street, patches) -> None:
    g.fill_tex(g.rect(g.s0, g.s1, g.t0, g.t1), st.pave_tex, st.pave_tint, rect=True)
    # dirt and water stains at world-anchored pseudo-random spots (near canvas only: invisible far away)
    for k in range(int(g.s0 // 6), int(g.s1 // 6) + 1) if g.factor == 1 else ():
        r = np.random.default_rng([st.seed, 9, k + 1_000_000])
        for _ in range(int(r.integers(0, 3))):
            cs, ct = k * 6 + r.uniform(0, 6), r.uniform(0.3, max(0.4, st.pave_w - 0.3))
            rad = r.uniform(0.25, 1.1)
            ang = np.linspace(0, 2 * math.pi, 12, endpoint=False)
            rr = rad * (1 + r.uniform(-0.35, 0.35, 12))
            blot = np.stack([cs + rr * np.cos(ang), ct + 0.7 * rr * np.sin(ang)], axis=1)
            tone = tuple(float(v) * r.uniform(0.45, 0.7) for v in (150, 150, 150))
            g.fill_color(blot, tone, float(r.uniform(0.12, 0.3)))
    g.fill_tex(g.rect(g.s0, g.s1, 0.0, 0.2), "granite", (1.0, 1.0, 1.0), rect=True)
    for s0, s1 in st.yellow_kerb:
        if g.visible(s0, s1):
            g.fill_color(g.rect(s0, s1, 0.0, 0.12), (40, 185, 225), 0.85)
    if st.blind_lane:
        g.fill_tex(g.rect(g.s0, g.s1, *st.blind_lane), "blind_lane", (1.0, 1.0, 1.0), rect=True)
    for b in st.pave_bays:
        if not g.visible(b.s0 - 1, b.s1 + 1):
            continue
        for edge in (b.s0, b.s1):
            g.fill_color(g.rect(edge - 0.05, edge + 0.05, b.t0, b.t1), b.color, 0.9)
        g.fill_color(g.rect(b.s0, b.s1, b.t1 - 0.1, b.t1), b.color, 0.9)
    for s0, s1, t0, t1 in st.green_belts:
        if g.visible(s0, s1):
            g.fill_color(g.rect(s0 - 0.1, s1 + 0.1, t0 - 0.1, t1 + 0.1), (170, 172, 175))
            g.fill_tex(g.rect(s0, s1, t0, t1), "grass", (1.0, 1.0, 1.0), rect=True)
    for s0, s1, t0, t1, cover in st.tree_pits:
        if not g.visible(s0 - 0.2, s1 + 0.2):
            continue
        g.fill_color(g.rect(s0 - 0.08, s1 + 0.08, t0 - 0.08, t1 + 0.08), (165, 168, 170))
        tex = {"grate": "grate", "grass": "grass", "gravel": "gravel", "soil_plain": "soil"}[cover]
        g.fill_tex(g.rect(s0, s1, t0, t1), tex, (1.0, 1.0, 1.0), rect=True)
    for p in patches:
        if g.visible(p.poly[:, 0].min(), p.poly[:, 0].max(), p.poly[:, 1].min(), p.poly[:, 1].max()):
            g.fill_tex(p.poly, p.texture, p.tint)


# --------------------------------------------------------------- facades


class FacadePainter:
    """A building row as a vertical canvas (right side: columns run towards -s so text reads correctly)."""

    def __init__(
        self, t_plane: float, s0: float, s1: float, z_top: float, factor: int, right_side: bool
    ) -> None:
        self.res = tx.TEX_RES * factor
        self.factor = factor
        self.right = right_side
        self.s0 = math.floor(s0 / self.res) * self.res
        cols = max(2, int(math.ceil((s1 - self.s0) / self.res)))
        self.s1 = self.s0 + cols * self.res
        rows = max(2, int(math.ceil(z_top / self.res)))
        self.z_top = rows * self.res
        self.t = t_plane
        self.data = np.zeros((rows, cols, 4), np.uint8)
        self.night = False

    def col(self, s: float) -> float:
        return (self.s1 - s) / self.res if self.right else (s - self.s0) / self.res

    def row(self, z: float) -> float:
        return (self.z_top - z) / self.res

    def rect_px(self, s0, s1, z0, z1) -> tuple[int, int, int, int] | None:
        c0, c1 = sorted((self.col(s0), self.col(s1)))
        r0, r1 = self.row(z1), self.row(z0)
        rows, cols = self.data.shape[:2]
        c0, c1 = max(0, int(round(c0))), min(cols, int(round(c1)))
        r0, r1 = max(0, int(round(r0))), min(rows, int(round(r1)))
        if c1 <= c0 or r1 <= r0:
            return None
        return r0, r1, c0, c1

    def fill(self, s0, s1, z0, z1, color, alpha: int = 255) -> tuple[int, int, int, int] | None:
        r = self.rect_px(s0, s1, z0, z1)
        if r:
            self.data[r[0] : r[1], r[2] : r[3]] = (*[int(c) for c in color], alpha)
        return r

    def fill_tex(self, s0, s1, z0, z1, tex: str, tint) -> None:
        r = self.rect_px(s0, s1, z0, z1)
        if not r:
            return
        anchor_c = round(-self.s1 / self.res) if self.right else round(self.s0 / self.res)
        patch = tx.sample(
            tex, self.factor, r[0] + round(-self.z_top / self.res), anchor_c + r[2], r[1] - r[0], r[3] - r[2]
        )
        patch = cv2.multiply(patch, tuple(float(c) / 200.0 for c in tint) + (0.0,))
        self.data[r[0] : r[1], r[2] : r[3], :3] = patch
        self.data[r[0] : r[1], r[2] : r[3], 3] = 255

    def canvas(self) -> Canvas:
        if self.right:
            origin = np.array([self.s1, self.t, self.z_top])
            au = np.array([-self.res, 0, 0.0])
        else:
            origin = np.array([self.s0, self.t, self.z_top])
            au = np.array([self.res, 0, 0.0])
        return Canvas(origin, au, np.array([0, 0, -self.res]), self.data)


_BUILDING_CACHE: dict[tuple, np.ndarray] = {}


def place_building(f: FacadePainter, b: Building, rng_seed: list[int], detail: bool) -> None:
    """Copy a building's own canvas (painted once, cached) into a row canvas."""
    key = (tuple(rng_seed), f.factor, f.right, detail, round(f.z_top, 3), f.night)
    data = _BUILDING_CACHE.get(key)
    if data is None:
        own = FacadePainter(f.t, b.s0, b.s1 + f.res, f.z_top, f.factor, f.right)
        own.night = f.night
        paint_building(own, b, rng_seed, detail)
        data = own.data
        if len(_BUILDING_CACHE) > 64:
            _BUILDING_CACHE.clear()
        _BUILDING_CACHE[key] = data
        own_edge = own.s1 if f.right else own.s0
    else:
        own_edge = (
            (math.floor(b.s0 / f.res) * f.res + data.shape[1] * f.res)
            if f.right
            else math.floor(b.s0 / f.res) * f.res
        )
    c0 = int(round(f.col(own_edge)))
    cols = f.data.shape[1]
    a0, a1 = max(0, c0), min(cols, c0 + data.shape[1])
    if a1 > a0:
        f.data[:, a0:a1] = data[:, a0 - c0 : a1 - c0]


def paint_building(f: FacadePainter, b: Building, rng_seed: list[int], detail: bool) -> None:
    rng = np.random.default_rng(rng_seed)
    f.fill_tex(b.s0, b.s1, 0, b.height, b.texture, b.wall)
    # parapet/roof edge
    f.fill(b.s0, b.s1, b.height - 0.3, b.height, tuple(c * 0.8 for c in b.wall))
    # vertical seam between buildings
    f.fill(b.s0, b.s0 + 0.15, 0, b.height, tuple(c * 0.75 for c in b.wall))
    first = 4.4 if b.shops else 1.0
    z = first + 0.6
    while z + b.window_h < b.height - 0.5:
        s = b.s0 + 0.8
        while s + b.window_w < b.s1 - 0.5:
            tone = rng.uniform(0.5, 1.3)
            glass = (int(min(255, 80 * tone)), int(min(255, 75 * tone)), int(min(255, 70 * tone)))
            lit = rng.random() < 0.35 and f.night
            r = f.fill(s, s + b.window_w, z, z + b.window_h, (200, 200, 200))
            if r:
                if lit:
                    warm = (int(110 * tone), int(190 * tone), int(min(255, 235 * tone)))
                    f.fill(
                        s + 0.08, s + b.window_w - 0.08, z + 0.08, z + b.window_h - 0.08, warm, alpha=EMISSIVE
                    )
                else:
                    f.fill(s + 0.08, s + b.window_w - 0.08, z + 0.08, z + b.window_h - 0.08, glass)
                if detail and rng.random() < 0.15:  # air-conditioner unit under the window
                    f.fill(s + 0.1, s + 0.9, z - 0.55, z - 0.05, (215, 218, 220))
            s += b.window_pitch
        z += b.floor_h
    for shop in b.shops:
        paint_shop(f, shop, rng, detail)


def paint_shop(f: FacadePainter, shop, rng: np.random.Generator, detail: bool) -> None:
    sign_z0, sign_z1 = 3.05, 3.05 + rng.uniform(0.7, 1.1)
    r = f.fill(shop.s0, shop.s1, sign_z0, sign_z1, shop.sign_color, alpha=EMISSIVE)
    if r and detail:
        h = r[1] - r[0]
        avail = r[3] - r[2]
        if rng.random() < 0.65:
            _glyph_sign(f.data, r, shop.text_color, rng)
        else:
            scale = max(0.3, h / 40.0)
            thick = max(1, int(scale * 2))
            (tw, th), _ = cv2.getTextSize(shop.sign_text, FONT, scale, thick)
            if tw > avail * 0.9:
                scale *= avail * 0.9 / tw
                thick = max(1, int(scale * 2))
                (tw, th), _ = cv2.getTextSize(shop.sign_text, FONT, scale, thick)
            org = (r[2] + (avail - tw) // 2, r[0] + (h + th) // 2)
            cv2.putText(
                f.data, shop.sign_text, org, FONT, scale, (*shop.text_color, EMISSIVE), thick, cv2.LINE_AA
            )
    front_top = 2.9
    wall = tuple(c * 0.85 for c in shop.sign_color) if rng.random() < 0.3 else (110, 112, 115)
    f.fill(shop.s0, shop.s1, 0, front_top + 0.15, wall)
    if shop.front == "open":
        f.fill(shop.open_s0, shop.open_s1, 0.1, front_top, (0, 0, 0), alpha=0)
        # glass panels beside the opening
        for a, b in ((shop.s0 + 0.2, shop.open_s0 - 0.1), (shop.open_s1 + 0.1, shop.s1 - 0.2)):
            if b - a > 0.4:
                f.fill(a, b, 0.4, front_top - 0.1, (70, 66, 60))
                f.fill(a + (b - a) * 0.3, a + (b - a) * 0.45, 0.5, front_top - 0.2, (120, 118, 115))
    elif shop.front == "glass":
        if f.night:  # lit from inside
            f.fill(shop.s0 + 0.2, shop.s1 - 0.2, 0.15, front_top - 0.1, (150, 185, 210), alpha=EMISSIVE)
        else:
            f.fill(shop.s0 + 0.2, shop.s1 - 0.2, 0.15, front_top - 0.1, (75, 70, 62))
        for k in np.arange(shop.s0 + 0.2, shop.s1 - 0.2, 1.2):
            f.fill(k, k + 0.06, 0.15, front_top - 0.1, (160, 160, 160))
        f.fill(shop.s0 + 0.5, shop.s0 + 0.9, 0.4, front_top - 0.4, (140, 140, 135))
    else:  # roller shutter
        r2 = f.fill(shop.s0 + 0.2, shop.s1 - 0.2, 0.1, front_top, (150, 152, 155))
        if r2:
            step = max(2, int(0.12 / f.res))
            f.data[r2[0] : r2[1] : step, r2[2] : r2[3], :3] = (110, 112, 115)


def _glyph_sign(data: np.ndarray, r: tuple[int, int, int, int], color, rng: np.random.Generator) -> None:
    """A shop name in CJK-like glyphs (random strokes in square cells): stands in for Chinese signage."""
    h, avail = r[1] - r[0], r[3] - r[2]
    cell = int(h * rng.uniform(0.55, 0.75))
    if cell < 6:
        return
    n = int(min(rng.integers(2, 7), max(1, avail * 0.9 // (cell * 1.15))))
    gap = int(cell * 0.15)
    x = r[2] + (avail - n * cell - (n - 1) * gap) // 2
    y = r[0] + (h - cell) // 2
    thick = max(1, cell // 9)
    col = (*[int(c) for c in color], EMISSIVE)
    for _ in range(n):
        m = max(1, cell // 8)
        x0, y0, x1, y1 = x + m, y + m, x + cell - m, y + cell - m
        for _ in range(int(rng.integers(4, 9))):
            kind = rng.random()
            if kind < 0.35:  # horizontal stroke
                yy = int(rng.uniform(y0, y1))
                a, b = sorted(rng.uniform(x0, x1, 2))
                cv2.line(data, (int(a), yy), (int(max(b, a + cell * 0.3)), yy), col, thick, cv2.LINE_AA)
            elif kind < 0.65:  # vertical stroke
                xx = int(rng.uniform(x0, x1))
                a, b = sorted(rng.uniform(y0, y1, 2))
                cv2.line(data, (xx, int(a)), (xx, int(max(b, a + cell * 0.3))), col, thick, cv2.LINE_AA)
            elif kind < 0.85:  # falling strokes
                p = (int(rng.uniform(x0, x1)), int(rng.uniform(y0, (y0 + y1) / 2)))
                q = (p[0] + int(rng.uniform(-0.4, 0.4) * cell), p[1] + int(rng.uniform(0.2, 0.45) * cell))
                cv2.line(data, p, q, col, thick, cv2.LINE_AA)
            else:  # an enclosure
                a = int(rng.uniform(x0, (x0 + x1) / 2))
                b = int(rng.uniform(y0, (y0 + y1) / 2))
                cv2.rectangle(
                    data, (a, b), (a + int(cell * 0.4), b + int(cell * 0.35)), col, thick, cv2.LINE_AA
                )
        x += cell + gap


def interior_parts(shop, P: float, kh: float, light: float) -> list[Part]:
    """The room behind an open shop front (drawn before the facade, seen through the opening)."""
    D = shop.interior_depth
    s0, s1 = shop.s0 + 0.1, shop.s1 - 0.1
    top = 3.0
    wall = _shade(shop.interior_color, light)
    floor = _shade((175, 180, 185), light * 0.9)
    ceil = _shade((225, 225, 225), light * 0.95)
    parts = [
        Part(
            np.array([[s0, P, kh], [s1, P, kh], [s1, P + D, kh], [s0, P + D, kh]]),
            floor,
            np.array([0, 0, 1.0]),
            shade=False,
        ),
        Part(
            np.array([[s0, P + D, kh], [s1, P + D, kh], [s1, P + D, top], [s0, P + D, top]]),
            wall,
            np.array([0, -1.0, 0]),
            shade=False,
        ),
        Part(
            np.array([[s0, P, top], [s1, P, top], [s1, P + D, top], [s0, P + D, top]]),
            ceil,
            np.array([0, 0, -1.0]),
            shade=False,
        ),
        Part(
            np.array([[s0, P, kh], [s0, P + D, kh], [s0, P + D, top], [s0, P, top]]),
            _shade(wall, 0.85),
            np.array([1.0, 0, 0]),
            shade=False,
        ),
        Part(
            np.array([[s1, P, kh], [s1, P + D, kh], [s1, P + D, top], [s1, P, top]]),
            _shade(wall, 0.85),
            np.array([-1.0, 0, 0]),
            shade=False,
        ),
    ]
    # shelves against the back wall and a ceiling light strip
    k = s0 + 0.3
    while k < s1 - 1.0:
        parts.append(
            Part(
                np.array(
                    [
                        [k, P + D - 0.02, kh + 0.2],
                        [k + 0.9, P + D - 0.02, kh + 0.2],
                        [k + 0.9, P + D - 0.02, kh + 1.8],
                        [k, P + D - 0.02, kh + 1.8],
                    ]
                ),
                _shade((90, 110, 140), light),
                np.array([0, -1.0, 0]),
                shade=False,
            )
        )
        k += 1.3
    parts.append(
        Part(
            np.array(
                [
                    [s0 + 0.5, P + 1, top - 0.01],
                    [s1 - 0.5, P + 1, top - 0.01],
                    [s1 - 0.5, P + 1.3, top - 0.01],
                    [s0 + 0.5, P + 1.3, top - 0.01],
                ]
            ),
            (250, 250, 250),
            np.array([0, 0, -1.0]),
            shade=False,
        )
    )
    return parts


# ---------------------------------------------------------------- renderer


class Renderer:
    def __init__(self, st: Street, cam: Camera, look: Look, detail: bool = True) -> None:
        self.st = st
        self.cam = cam
        self.look = look
        self.proj = Projector(cam)
        self.detail = detail
        self.sun = look.sun_vector
        h, w = cam.height, cam.width
        self.img = np.zeros((h, w, 3), np.uint8)
        self.ids = np.zeros((h, w), np.uint16)
        self.drawn: dict[int, DrawnObject] = {}
        self.ds, self.dt, self.dz = cam.ray_directions()
        self.dim = 1.0 - 0.7 * look.night  # surfaces not lit by anything of their own

    # -- background layers
    def sky(self) -> None:
        """Sky gradient by ray elevation plus clouds, computed at 1/8 resolution and scaled up."""
        small = self.cam.width // 8, self.cam.height // 8
        ds, dt, dz = (cv2.resize(a, small, interpolation=cv2.INTER_AREA) for a in (self.ds, self.dt, self.dz))
        elev = np.clip(dz / np.sqrt(ds**2 + dt**2 + dz**2), 0, 1)
        k = np.clip(np.sqrt(elev) * 1.6, 0, 1)[..., None]
        hor = np.asarray(self.look.sky_horizon, np.float32)
        zen = np.asarray(self.look.sky_zenith, np.float32)
        sky = hor * (1 - k) + zen * k
        if self.look.cloudiness > 0.05:
            noise = tx.texture_bank()["plaster"][: small[1] * 2 : 2, : small[0] * 2 : 2, 0].astype(np.float32)
            noise = (noise - noise.mean()) / (noise.std() + 1e-6)
            sky += (self.look.cloudiness * 25.0) * np.clip(noise, -2, 2)[..., None]
        sky = np.clip(sky, 0, 255).astype(np.uint8)
        self.img[:] = cv2.resize(sky, (self.cam.width, self.cam.height), interpolation=cv2.INTER_LINEAR)

    def facades(self) -> None:
        st, cam = self.st, self.cam
        view_lo = cam.s - 5
        # far side: one coarse canvas
        far = FacadePainter(st.far_facade_t, view_lo, cam.s + 260, 32, 4, right_side=False)
        far.night = self.look.night > 0.5
        for b in st.far_buildings:
            if b.s1 > far.s0 and b.s0 < far.s1:
                place_building(far, b, [st.seed, 11, int(b.s0 * 10) + 1_000_000], detail=False)
        _warp_into(self.img, self.proj, far.canvas(), (self.dt < -1e-6).astype(np.uint8) * 255, self.dim)
        # right side: interiors first, then the facade over them
        P = st.pave_w
        light = 0.75 if (self.look.dusk < 0.3 and self.look.night < 0.5) else 1.1
        for b in st.buildings:
            if b.s1 < cam.s - 2 or b.s0 > cam.s + 45:
                continue
            for shop in b.shops:
                if shop.front == "open" and shop.s1 > cam.s - 2 and shop.s0 < cam.s + 45:
                    self._draw_parts(interior_parts(shop, P, st.kerb_h, light), 0, None, shade=False)
        interior = [o for o in st.objects if o.interior and cam.s - 2 < o.anchor[0] < cam.s + 45]
        self._draw_objects(interior)
        valid = (self.dt > 1e-6).astype(np.uint8) * 255
        mid = FacadePainter(P, cam.s - 2, cam.s + 220, 32, 4, right_side=True)
        near = FacadePainter(P, cam.s - 2, cam.s + 40, 12.5, 1, right_side=True)
        mid.night = near.night = self.look.night > 0.5
        for b in st.buildings:
            if b.s1 > mid.s0 and b.s0 < mid.s1:
                place_building(mid, b, [st.seed, 12, int(b.s0 * 10) + 1_000_000], detail=False)
            if self.detail and b.s1 > near.s0 and b.s0 < near.s1:
                place_building(near, b, [st.seed, 12, int(b.s0 * 10) + 1_000_000], detail=True)
        _warp_into(self.img, self.proj, mid.canvas(), valid, self.dim)
        if self.detail:
            _warp_into(self.img, self.proj, near.canvas(), valid, self.dim)

    def ground(self) -> None:
        st, cam = self.st, self.cam
        below = (self.dz < -1e-6).astype(np.uint8) * 255
        # how far left of the camera the view reaches within the near window
        left_edge = math.radians(cam.yaw_deg - cam.hfov_deg / 2 - 8)
        reach = 40 * math.tan(min(0.0, left_edge))
        patches = [p for o in st.objects for p in o.patches] + st.patches
        for s0, s1, factor, t_lo in (
            (cam.s + 38, cam.s + 320, 5, st.far_facade_t),
            (cam.s - 3, cam.s + 40, 1, max(st.far_facade_t, cam.t + reach - 2)),
        ):
            road = GroundPainter(st, s0, s1, t_lo, 0.0, 0.0, factor)
            paint_road(road, st)
            _warp_into(self.img, self.proj, road.canvas(), below, self.dim)
            pave = GroundPainter(st, s0, s1, 0.0, st.pave_w, st.kerb_h, factor)
            paint_pavement(pave, st, patches)
            _warp_into(self.img, self.proj, pave.canvas(), below, self.dim)
        # kerb faces (vertical) on both sides
        kerb_col = _shade((150, 152, 155), self.look.ambient + 0.3 * self.look.diffuse)
        s0, s1 = cam.s - 1, cam.s + 300
        self._draw_parts(
            [
                Part(
                    np.array([[s0, 0, 0], [s1, 0, 0], [s1, 0, st.kerb_h], [s0, 0, st.kerb_h]]),
                    kerb_col,
                    np.array([0, -1.0, 0]),
                    shade=False,
                )
            ],
            0,
            None,
            shade=False,
        )
        for y0, y1 in st.yellow_kerb:
            a, b = max(y0, s0), min(y1, s1)
            if b > a:
                self._draw_parts(
                    [
                        Part(
                            np.array(
                                [
                                    [a, -0.002, 0],
                                    [b, -0.002, 0],
                                    [b, -0.002, st.kerb_h],
                                    [a, -0.002, st.kerb_h],
                                ]
                            ),
                            (40, 185, 225),
                            np.array([0, -1.0, 0]),
                            shade=False,
                        )
                    ],
                    0,
                    None,
                    shade=False,
                )

    def label_patches(self) -> None:
        """Labelled ground patches (exposed soil) go into the id buffer before anything stands on them."""
        for o in self.st.objects:
            if not o.labelled or not o.patches:
                continue
            if not (self.cam.s - 2 < o.anchor[0] < self.cam.s + 120):
                continue
            rec = self.drawn.setdefault(o.oid, DrawnObject())
            for p in o.patches:
                pts = np.column_stack([p.poly, np.full(len(p.poly), p.z)])
                uv = self.proj.poly(pts)
                if uv is None:
                    continue
                q = _fix(uv)
                cv2.fillPoly(self.ids, [q], int(o.oid), cv2.LINE_8, SHIFT)
                rec.polys.append(q)

    def shadows(self) -> None:
        """Sun shadows (buildings and objects) and soft contact shadows under every object."""
        st, cam, sun = self.st, self.cam, self.sun
        sunny = self.look.shadow_strength > 0 and sun[2] > 0.05
        mask = np.zeros(self.ids.shape, np.uint8)
        contact = np.zeros(self.ids.shape, np.uint8)
        k = 1.0 / max(sun[2], 0.05)
        if sunny:
            for b in st.buildings:
                if b.s1 < cam.s - 5 or b.s0 > cam.s + 120:
                    continue
                off = -sun[:2] * (b.height - st.kerb_h) * k
                if off[1] >= 0:  # sun on the road side: the facade is lit, no shadow on the street
                    continue
                base = np.array([[b.s0, st.pave_w], [b.s1, st.pave_w]])
                self._fill_ground_shadow(
                    mask, np.array([base[0], base[1], base[1] + off, base[0] + off]), 0.0
                )
        for o in st.objects:
            if o.interior or not (cam.s - 5 < o.anchor[0] < cam.s + 100) or not self._in_view(o, 12.0):
                continue
            z0 = o.anchor[2]
            poly_pts = [p.pts for p in o.parts if p.blob is None]
            low = [q[q[:, 2] < z0 + 0.6] for q in poly_pts]
            low = [q for q in low if len(q)]
            if low:
                foot = np.concatenate(low)[:, :2]
                c = foot.mean(axis=0)
                foot = c + (foot - c) * 1.12
                hull = cv2.convexHull(foot.astype(np.float32)).reshape(-1, 2).astype(np.float64)
                self._fill_ground_shadow(contact, hull, z0)
            if not (sunny and o.cast_shadow):
                continue
            blob_pts = []
            for p in o.parts:
                if p.blob is None:
                    continue
                c = p.pts[0]
                r, rz = p.blob
                ring = np.array(
                    [
                        c + [r, 0, 0],
                        c - [r, 0, 0],
                        c + [0, r, 0],
                        c - [0, r, 0],
                        c + [0, 0, rz],
                        c - [0, 0, min(rz, c[2] - z0)],
                    ]
                )
                if o.kind == "tree":  # dappled crown shadow: one patch per leaf clump
                    self._fill_ground_shadow(mask, _sun_hull(ring, sun, k, z0), z0)
                else:
                    blob_pts.append(ring)
            groups = poly_pts + blob_pts
            if o.kind == "tree":
                groups = poly_pts
            if groups:  # small objects: one hull for the whole object
                self._fill_ground_shadow(mask, _sun_hull(np.concatenate(groups), sun, k, z0), z0)
        contact = cv2.GaussianBlur(contact, (9, 9), 0)
        total = cv2.convertScaleAbs(contact, alpha=0.35)
        if sunny:
            if self.detail:
                mask = cv2.GaussianBlur(mask, (5, 5), 0)
            total = cv2.max(total, cv2.convertScaleAbs(mask, alpha=self.look.shadow_strength))
        factor = 255 - total
        cv2.multiply(self.img, cv2.cvtColor(factor, cv2.COLOR_GRAY2BGR), dst=self.img, scale=1.0 / 255.0)

    def _fill_ground_shadow(self, mask: np.ndarray, poly_st: np.ndarray, z: float) -> None:
        uv = self.proj.poly(np.column_stack([poly_st, np.full(len(poly_st), z + 0.01)]))
        if uv is not None:
            cv2.fillPoly(mask, [_fix(uv)], 255, cv2.LINE_AA, SHIFT)

    # -- objects
    def grime(self, rng_seed: int) -> None:
        """Low-frequency tone variation over the whole frame (real surfaces are never flat colours)."""
        field = _grime_field()
        rng = np.random.default_rng(rng_seed)
        h, w = self.ids.shape
        oy = int(rng.integers(0, field.shape[0] - h))
        ox = int(rng.integers(0, field.shape[1] - w))
        g = field[oy : oy + h, ox : ox + w]
        cv2.multiply(self.img, cv2.cvtColor(g, cv2.COLOR_GRAY2BGR), dst=self.img, dtype=cv2.CV_8U)

    def objects(self) -> None:
        cam = self.cam
        objs = [
            o for o in self.st.objects if not o.interior and cam.s - 8 < o.anchor[0] < cam.s + 150 and o.parts
        ]
        self._draw_objects(objs)

    def _in_view(self, o: SceneObject, radius: float = 5.0) -> bool:
        c = self.proj.to_cam(np.asarray(o.anchor, dtype=np.float64)[None, :])[0]
        if c[2] < -radius:
            return False
        half = math.tan(math.radians(self.cam.hfov_deg) / 2) * 1.05
        return abs(c[0]) <= max(c[2], 0.0) * half + radius * 1.5

    def _draw_objects(self, objs: list[SceneObject]) -> None:
        objs = [o for o in objs if self._in_view(o)]
        pos = self.proj.pos
        d2 = [(o.anchor[0] - pos[0]) ** 2 + (o.anchor[1] - pos[1]) ** 2 for o in objs]
        for i in np.argsort(d2)[::-1]:
            o = objs[int(i)]
            rec = self.drawn.setdefault(o.oid, DrawnObject()) if o.labelled else None
            self._draw_parts(o.parts, o.oid if o.labelled else 0, rec)

    def _draw_parts(self, parts: list[Part], oid: int, rec: DrawnObject | None, shade: bool = True) -> None:
        look, pos = self.look, self.proj.pos
        amb, dif = look.ambient, look.diffuse
        polys = [p for p in parts if p.blob is None]
        cam_pts = None
        if polys:
            allpts = np.concatenate([p.pts for p in polys])
            cam_pts = self.proj.to_cam(allpts)
        k_poly = 0
        offset = 0
        f, cx, cy = self.proj.f, self.proj.cx, self.proj.cy
        for p in parts:
            if p.blob is not None:
                c = self.proj.point(p.pts[0])
                if c is None:
                    continue
                u, v, z = c
                ax = f * p.blob[0] / z
                ay = f * p.blob[1] / z
                if ax > 4000 or ay > 4000:
                    continue
                lit = shade and p.shade and not p.emissive
                k = amb + dif * 0.55 if lit else (self.dim if (shade and not p.emissive) else 1.0)
                if p.jitter is not None:
                    base = np.stack([u + ax * p.jitter * _COS16, v + ay * p.jitter * _SIN16], axis=1)
                    q = _fix(base)
                    cv2.fillPoly(
                        self.img, [q], _shade(p.color, k * (0.8 if lit else 1.0)), cv2.LINE_AA, SHIFT
                    )
                    if lit and ax > 2.5:
                        ctr = np.array([u, v])
                        up = ctr + (base - ctr) * 0.78 + [-0.06 * ax, -0.16 * ay]
                        cv2.fillPoly(self.img, [_fix(up)], _shade(p.color, k), cv2.LINE_AA, SHIFT)
                        if p.glossy:
                            spot = ctr + (base - ctr) * 0.28 + [-0.3 * ax, -0.42 * ay]
                            cv2.fillPoly(
                                self.img,
                                [_fix(spot)],
                                _shade(p.color, (amb + dif) * 1.25 + 0.15),
                                cv2.LINE_AA,
                                SHIFT,
                            )
                    cv2.fillPoly(self.ids, [q], int(oid), cv2.LINE_8, SHIFT)
                    if rec is not None:
                        rec.polys.append(q)
                    continue
                centre = (int(round(u * ONE)), int(round(v * ONE)))
                axes = (max(1, int(round(ax * ONE))), max(1, int(round(ay * ONE))))
                cv2.ellipse(
                    self.img,
                    centre,
                    axes,
                    0,
                    0,
                    360,
                    _shade(p.color, k * (0.82 if lit else 1.0)),
                    -1,
                    cv2.LINE_AA,
                    SHIFT,
                )
                if lit and ax > 2.5:
                    up = (centre[0] - axes[0] // 16, centre[1] - axes[1] // 6)
                    cv2.ellipse(
                        self.img,
                        up,
                        (int(axes[0] * 0.78), int(axes[1] * 0.78)),
                        0,
                        0,
                        360,
                        _shade(p.color, k),
                        -1,
                        cv2.LINE_AA,
                        SHIFT,
                    )
                    hc = (centre[0] - int(axes[0] * 0.3), centre[1] - int(axes[1] * 0.42))
                    cv2.ellipse(
                        self.img,
                        hc,
                        (max(1, int(axes[0] * 0.25)), max(1, int(axes[1] * 0.2))),
                        0,
                        0,
                        360,
                        _shade(p.color, (amb + dif) * 1.12),
                        -1,
                        cv2.LINE_AA,
                        SHIFT,
                    )
                cv2.ellipse(self.ids, centre, axes, 0, 0, 360, int(oid), -1, cv2.LINE_8, SHIFT)
                if rec is not None:
                    rec.ellipses.append((centre[0], centre[1], axes[0], axes[1]))
                continue
            n = len(p.pts)
            c = cam_pts[offset : offset + n]
            offset += n
            k_poly += 1
            if p.normal is not None:
                v0 = p.pts[0]
                nn = p.normal
                if nn[0] * (pos[0] - v0[0]) + nn[1] * (pos[1] - v0[1]) + nn[2] * (pos[2] - v0[2]) <= 0:
                    continue
            z = c[:, 2]
            if z.max() < NEAR_PLANE_M:
                continue
            if z.min() < NEAR_PLANE_M:
                c = _clip_near(c)
                if len(c) < 3:
                    continue
            uv = np.empty((len(c), 2))
            uv[:, 0] = f * c[:, 0] / c[:, 2] + cx
            uv[:, 1] = f * c[:, 1] / c[:, 2] + cy
            np.clip(uv, -1e5, 1e5, out=uv)
            q = _fix(uv)
            color = p.color
            if shade and not p.shade and not p.emissive:
                color = _shade(color, self.dim)
            if shade and p.shade and not p.emissive:
                if p.normal is not None:
                    nn = p.normal
                    sun = self.sun
                    k = amb + dif * max(0.0, nn[0] * sun[0] + nn[1] * sun[1] + nn[2] * sun[2])
                    if nn[2] > 0.9:
                        k += 0.08
                else:
                    k = amb + dif * 0.4
                color = _shade(color, k)
            cv2.fillPoly(self.img, [q], color, cv2.LINE_AA, SHIFT)
            if p.glossy and len(uv) == 4:
                band = np.array(
                    [
                        uv[0] + 0.25 * (uv[1] - uv[0]),
                        uv[0] + 0.5 * (uv[1] - uv[0]),
                        uv[3] + 0.35 * (uv[2] - uv[3]),
                        uv[3] + 0.1 * (uv[2] - uv[3]),
                    ]
                )
                sky = self.look.sky_horizon
                refl = tuple(0.55 * c1 + 0.45 * c2 for c1, c2 in zip(color, sky, strict=True))
                cv2.fillPoly(self.img, [_fix(band)], refl, cv2.LINE_AA, SHIFT)
            cv2.fillPoly(self.ids, [q], int(oid), cv2.LINE_8, SHIFT)
            if rec is not None:
                rec.polys.append(q)

    def haze_depth(self) -> np.ndarray:
        """Distance to the street 'box' (ground, building fronts up to the roofs); sky counts as 150 m.

        Computed at 1/4 resolution (haze varies slowly) and scaled up.
        """
        st, cam = self.st, self.cam
        ds, dt, dz = self.ds[2::4, 2::4], self.dt[2::4, 2::4], self.dz[2::4, 2::4]
        big = np.float32(1e6)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(dz < -1e-6, cam.height_m / -dz, big)
            r = np.where(dt > 1e-6, (st.pave_w - cam.t) / dt, big)
            lf = np.where(dt < -1e-6, (st.far_facade_t - cam.t) / dt, big)
            r = np.where(cam.height_m + r * dz < _roof_height(st.buildings, cam.s + r * ds), r, big)
            lf = np.where(cam.height_m + lf * dz < _roof_height(st.far_buildings, cam.s + lf * ds), lf, big)
        d = np.minimum(g, np.minimum(r, lf))
        norm = np.sqrt(ds**2 + dt**2 + dz**2)
        small = np.where(d < big, d * norm, np.float32(150.0)).astype(np.float32)
        return cv2.resize(small, (cam.width, cam.height), interpolation=cv2.INTER_LINEAR)

    def render(self) -> RenderResult:
        self.sky()
        self.facades()
        self.ground()
        self.shadows()
        self.label_patches()
        self.objects()
        self.grime(int(self.cam.s * 1000) % 100_000 + self.st.seed % 1000)
        depth = self.haze_depth() if self.look.haze > 0.002 else None
        return RenderResult(self.img, self.ids, self.drawn, depth)


def _sun_hull(pts: np.ndarray, sun: np.ndarray, k: float, z0: float) -> np.ndarray:
    """Convex hull of 3D points projected along the sun direction onto the plane z = z0."""
    proj = pts[:, :2] - sun[:2][None, :] * ((pts[:, 2] - z0) * k)[:, None]
    return cv2.convexHull(proj.astype(np.float32)).reshape(-1, 2).astype(np.float64)


def _roof_height(buildings: list[Building], s: np.ndarray) -> np.ndarray:
    """Roof height of the building at each street position s (0 where there is none)."""
    if not buildings:
        return np.zeros_like(s)
    starts = np.array([b.s0 for b in buildings])
    heights = np.array([b.height for b in buildings] + [0.0], dtype=np.float32)
    idx = np.searchsorted(starts, np.nan_to_num(s, nan=-1e9, posinf=1e9, neginf=-1e9), side="right") - 1
    idx = np.where((idx < 0) | (s > buildings[-1].s1), len(buildings), idx)
    return heights[idx]


@lru_cache(maxsize=1)
def _grime_field() -> np.ndarray:
    rng = np.random.default_rng(4242)
    base = tx.fractal(rng, size=480, octaves=(3, 9, 27, 81))
    field = cv2.resize(base, (1800, 1100), interpolation=cv2.INTER_CUBIC)
    return (1.0 + 0.06 * field / (np.abs(field).max() + 1e-6)).astype(np.float32)


def render_frame(st: Street, cam: Camera, look: Look, detail: bool = True) -> RenderResult:
    return Renderer(st, cam, look, detail).render()
