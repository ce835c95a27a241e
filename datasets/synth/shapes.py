"""3D primitives of the synthetic street: polygons, boxes, ellipsoid blobs, and the objects made of them.

Coordinates are the street frame of `camera.py` (s along, t right, z up; metres). A `Part` is either a
planar polygon (drawn with back-face culling when it has a normal) or a blob (an ellipsoid drawn as
its projected ellipse). Objects list their parts in drawing order (what is drawn later covers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

Color = tuple[float, float, float]


@dataclass
class Part:
    pts: np.ndarray  # (K,3) polygon, or (1,3) blob centre
    color: Color
    normal: np.ndarray | None = None  # outward normal: culled when facing away; None = double-sided
    blob: tuple[float, float] | None = None  # (horizontal radius, vertical radius) for blobs
    shade: bool = True
    glossy: bool = False  # glass: add a sky reflection band (blobs: a specular spot)
    jitter: np.ndarray | None = None  # blobs: radial factors of a lumpy outline (16 values), None = ellipse
    emissive: bool = False  # lights: drawn at full colour whatever the lighting


@dataclass
class GroundPatch:
    """A textured polygon lying on the ground (soil, dust net, grass). Painted into the ground canvas."""

    poly: np.ndarray  # (K,2) in (s, t)
    z: float
    texture: str
    tint: Color = (1.0, 1.0, 1.0)


@dataclass
class SceneObject:
    oid: int  # stable id inside the street (clips); 0 is never used
    class_name: str | None  # None: unlabelled (distractor or hard negative)
    anchor: tuple[float, float, float]  # ground contact point (s, t, z)
    parts: list[Part] = field(default_factory=list)
    patches: list[GroundPatch] = field(default_factory=list)
    cast_shadow: bool = True
    interior: bool = False  # inside a shop, drawn before the facade
    kind: str = ""  # what it is, for ground truth and debugging (e.g. "car_in_bay", "bin_full")
    tags: dict = field(default_factory=dict)
    footprint: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # s0, s1, t0, t1

    @property
    def labelled(self) -> bool:
        return self.class_name is not None


def _orient(face: np.ndarray, centre: np.ndarray) -> np.ndarray:
    n = np.cross(face[1] - face[0], face[2] - face[0])
    norm = np.linalg.norm(n)
    if norm < 1e-12:
        return np.zeros(3)
    n = n / norm
    if np.dot(n, face.mean(axis=0) - centre) < 0:
        n = -n
    return n


def box_vertices(
    s: float,
    t: float,
    z0: float,
    length: float,
    width: float,
    height: float,
    yaw: float,
    inset_len: float = 0.0,
    inset_wid: float = 0.0,
    shift_top: float = 0.0,
) -> np.ndarray:
    """8 vertices (bottom 4, top 4) of a box or frustum, `length` along heading `yaw` (rad from +s)."""
    a = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    b = np.array([-math.sin(yaw), math.cos(yaw), 0.0])
    c = np.array([s, t, z0])
    out = []
    for level, (hl, hw, dz, sh) in enumerate(
        (
            (length / 2, width / 2, 0.0, 0.0),
            (length / 2 - inset_len, width / 2 - inset_wid, height, shift_top),
        )
    ):
        del level
        for sa, sb in ((1, 1), (-1, 1), (-1, -1), (1, -1)):
            out.append(c + (sa * hl + sh) * a + sb * hw * b + np.array([0, 0, dz]))
    return np.array(out)


FACES = {
    "bottom": (0, 3, 2, 1),
    "top": (4, 5, 6, 7),
    "front": (0, 4, 7, 3),  # +a end
    "back": (1, 2, 6, 5),  # -a end
    "left": (0, 1, 5, 4),  # +b side
    "right": (3, 7, 6, 2),  # -b side
}


_FACE_IDX = np.array(list(FACES.values()))


def box_parts(
    verts: np.ndarray,
    colors: dict[str, Color] | Color,
    skip: tuple[str, ...] = ("bottom",),
    glossy: tuple[str, ...] = (),
) -> list[Part]:
    centre = verts.mean(axis=0)
    faces = verts[_FACE_IDX]  # (6, 4, 3)
    normals = np.cross(faces[:, 1] - faces[:, 0], faces[:, 2] - faces[:, 0])
    norms = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = normals / np.maximum(norms, 1e-12)
    outward = np.einsum("ij,ij->i", normals, faces.mean(axis=1) - centre)
    normals[outward < 0] *= -1
    parts = []
    for k, name in enumerate(FACES):
        if name in skip:
            continue
        col = colors.get(name, colors.get("default")) if isinstance(colors, dict) else colors
        if col is None:
            continue
        parts.append(Part(faces[k], col, normals[k], glossy=name in glossy))
    return parts


def box(
    s: float,
    t: float,
    z0: float,
    length: float,
    width: float,
    height: float,
    yaw: float,
    color: Color | dict[str, Color],
    **kw,
) -> list[Part]:
    return box_parts(box_vertices(s, t, z0, length, width, height, yaw), color, **kw)


def blob(s: float, t: float, z: float, r: float, rz: float, color: Color, shade: bool = True) -> Part:
    return Part(np.array([[s, t, z]]), color, None, (r, rz), shade)


def quad(p0, p1, p2, p3, color: Color, normal=None, glossy: bool = False) -> Part:
    return Part(
        np.array([p0, p1, p2, p3], dtype=np.float64),
        color,
        None if normal is None else np.asarray(normal, float),
        glossy=glossy,
    )


def irregular_polygon(
    rng: np.random.Generator, cs: float, ct: float, rs: float, rt: float, n: int = 14, rough: float = 0.25
) -> np.ndarray:
    ang = np.sort(rng.uniform(0, 2 * math.pi, n))
    rad = 1.0 + rng.uniform(-rough, rough, n)
    return np.stack([cs + rs * rad * np.cos(ang), ct + rt * rad * np.sin(ang)], axis=1)


def jitter_color(rng: np.random.Generator, col: Color, amount: float = 0.12) -> Color:
    f = rng.uniform(1 - amount, 1 + amount, 3) * rng.uniform(1 - amount, 1 + amount)
    return tuple(float(min(255.0, c * k)) for c, k in zip(col, f, strict=True))
