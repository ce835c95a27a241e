"""Builders for the things on a street: vehicles, bins, garbage, stalls, soil, trees, people.

Each builder returns the `Part`s (and ground patches) of one object at a ground point; the world module
decides where objects go and which class (if any) they carry.
"""

from __future__ import annotations

import math

import numpy as np

from datasets.synth.shapes import (
    Color,
    GroundPatch,
    Part,
    blob,
    box,
    box_parts,
    box_vertices,
    irregular_polygon,
    jitter_color,
    quad,
)

CAR_COLORS: list[Color] = [
    (235, 235, 235),
    (245, 245, 240),
    (30, 30, 30),
    (20, 20, 25),
    (150, 150, 150),
    (185, 185, 180),
    (110, 110, 115),
    (40, 40, 160),
    (150, 90, 30),
    (60, 60, 60),
    (200, 200, 205),
    (40, 90, 140),
    (120, 40, 30),
    (70, 110, 60),
    (20, 160, 230),
    (210, 200, 180),
]
BAG_COLORS: list[Color] = [
    (25, 25, 28),
    (35, 35, 35),
    (215, 215, 215),
    (190, 200, 205),
    (170, 110, 40),
    (60, 60, 170),
    (40, 150, 200),
    (80, 140, 60),
    (200, 160, 120),
]
BIN_COLORS: list[Color] = [
    (50, 120, 40),
    (40, 100, 30),
    (150, 90, 30),
    (120, 120, 120),
    (45, 45, 170),
    (45, 45, 45),
    (30, 120, 200),
    (90, 90, 85),
]
GOODS_COLORS: list[Color] = [
    (40, 40, 200),
    (30, 160, 230),
    (40, 200, 240),
    (200, 120, 40),
    (60, 170, 60),
    (220, 220, 220),
    (140, 60, 160),
    (90, 130, 190),
    (30, 90, 200),
    (180, 180, 60),
    (120, 80, 200),
    (60, 60, 60),
]
GLASS: Color = (62, 56, 50)
TYRE: Color = (28, 28, 30)


def _pick(rng: np.random.Generator, items: list) -> object:
    return items[int(rng.integers(len(items)))]


def vehicle(
    rng: np.random.Generator, s: float, t: float, z: float, yaw: float, kind: str | None = None
) -> tuple[list[Part], tuple[float, float]]:
    """A car, SUV, van or truck as boxes + a glass cabin + wheels. Returns parts and (length, width)."""
    kind = kind or str(_pick(rng, ["car", "car", "car", "suv", "suv", "van", "truck", "taxi"]))
    col = jitter_color(rng, _pick(rng, CAR_COLORS), 0.06)
    if kind == "taxi":
        col = jitter_color(rng, _pick(rng, [(30, 170, 230), (60, 140, 40), (40, 120, 230)]), 0.05)
    dims = {
        "car": (
            rng.uniform(4.2, 4.9),
            rng.uniform(1.72, 1.86),
            rng.uniform(0.62, 0.72),
            rng.uniform(0.42, 0.52),
        ),
        "taxi": (
            rng.uniform(4.5, 4.8),
            rng.uniform(1.72, 1.8),
            rng.uniform(0.62, 0.7),
            rng.uniform(0.45, 0.5),
        ),
        "suv": (
            rng.uniform(4.4, 4.95),
            rng.uniform(1.82, 1.95),
            rng.uniform(0.78, 0.9),
            rng.uniform(0.55, 0.65),
        ),
        "van": (rng.uniform(4.8, 5.4), rng.uniform(1.8, 2.0), rng.uniform(1.0, 1.2), rng.uniform(0.7, 0.9)),
        "truck": (rng.uniform(5.8, 7.5), rng.uniform(2.0, 2.3), rng.uniform(0.9, 1.1), rng.uniform(1.4, 2.0)),
    }[kind]
    length, width, body_h, cab_h = dims
    clear = 0.36 if kind != "truck" else 0.55
    parts: list[Part] = []
    # underbody (dark) and wheels on both sides; wheels facing away get culled
    parts += box(
        s, t, z + 0.1, length * 0.9, width * 0.9, clear - 0.08, yaw, (22, 22, 24), skip=("bottom", "top")
    )
    a = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    b = np.array([-math.sin(yaw), math.cos(yaw), 0.0])
    centre = np.array([s, t, z])
    wheel_r = 0.33 if kind != "truck" else 0.48
    wheels = []
    zaxis = np.array([0, 0, 1.0])
    for sa in (0.33, -0.33) if kind != "truck" else (0.38, -0.15, -0.36):
        for sb in (1, -1):
            p = centre + sa * length * a + sb * (width / 2 - 0.12) * b + np.array([0, 0, wheel_r])
            # tyres seen from behind/in front: one dark block per axle (below)
            for radius, col_w in ((wheel_r, TYRE), (wheel_r * 0.55, (140, 142, 145))):
                face = p + sb * (0.115 + (0.005 if col_w != TYRE else 0.0)) * b
                ring = [
                    face + radius * (math.cos(k) * a + math.sin(k) * zaxis)
                    for k in np.linspace(0, 2 * math.pi, 12, endpoint=False)
                ]
                wheels.append(Part(np.array(ring), col_w, sb * b, shade=False))
    for sa in (0.33, -0.33) if kind != "truck" else (0.38, -0.36):
        p = centre + sa * length * a
        wheels = (
            box(p[0], p[1], z, wheel_r * 1.5, width - 0.04, wheel_r * 1.4, yaw, TYRE, skip=("bottom", "top"))
            + wheels
        )
    parts = wheels + parts
    lower = {"default": col}
    if kind == "truck":
        cab_len = 1.8
        cab_s = centre + (length / 2 - cab_len / 2) * a
        parts += box(cab_s[0], cab_s[1], z + clear, cab_len, width, body_h + cab_h, yaw, {"default": col})
        # windscreen band on the cab front
        cargo_col = jitter_color(
            rng, _pick(rng, [(220, 220, 220), (200, 200, 200), (60, 100, 160), (40, 40, 150)])
        )
        cargo = centre - (cab_len / 2 + 0.1) * a
        parts += box(
            cargo[0],
            cargo[1],
            z + clear,
            length - cab_len - 0.2,
            width + 0.05,
            body_h + cab_h + rng.uniform(0.3, 0.9),
            yaw,
            {"default": cargo_col},
        )
        glass_v = box_vertices(
            cab_s[0], cab_s[1], z + clear + body_h + 0.05, cab_len + 0.02, width + 0.02, cab_h * 0.7, yaw
        )
        parts += box_parts(
            glass_v,
            {"front": GLASS, "left": GLASS, "right": GLASS},
            skip=("bottom", "top", "back"),
            glossy=("front", "left", "right"),
        )
        return parts, (length, width)
    parts += box(s, t, z + clear, length, width, body_h, yaw, lower)
    trim = (38, 38, 40) if sum(col) > 200 else tuple(c * 0.55 for c in col)
    parts += box(s, t, z + clear - 0.02, length + 0.04, width + 0.02, 0.16, yaw, trim, skip=("bottom", "top"))
    cab_len = length * (0.5 if kind in ("car", "taxi") else 0.7)
    cab_shift = -0.05 * length if kind in ("car", "taxi") else -0.08 * length
    cab_c = centre + cab_shift * a
    cv = box_vertices(
        cab_c[0],
        cab_c[1],
        z + clear + body_h,
        cab_len,
        width * 0.94,
        cab_h,
        yaw,
        inset_len=0.28 if kind in ("car", "taxi") else 0.12,
        inset_wid=0.08,
    )
    parts += box_parts(
        cv,
        {"top": col, "front": GLASS, "back": GLASS, "left": GLASS, "right": GLASS},
        glossy=("front", "back", "left", "right"),
    )
    # pillars: thin strip of body colour in the middle of each side window
    for sb in (1, -1):
        mid = cab_c + sb * (width * 0.47 + 0.005) * b
        p0 = mid + np.array([0, 0, z + clear + body_h - z]) - 0.05 * a
        p1 = p0 + 0.1 * a
        top = np.array([0, 0, cab_h]) - sb * 0.08 * b
        parts.append(quad(p0, p1, p1 + top, p0 + top, col, normal=sb * b))
    # lights: rear red, front white
    for sign, lcol in ((-1, (30, 30, 200)), (1, (220, 230, 235))):
        for sb in (1, -1):
            p = centre + sign * (length / 2 + 0.01) * a + sb * (width / 2 - 0.3) * b
            p = p + np.array([0, 0, clear + body_h * 0.65])
            w = 0.22 * b
            h = np.array([0, 0, 0.12])
            light = quad(p - w, p + w, p + w + h, p - w + h, lcol, normal=sign * a)
            light.emissive = True
            parts.append(light)
    # plate
    for sign in (1, -1):
        p = centre + sign * (length / 2 + 0.012) * a + np.array([0, 0, clear + 0.2])
        w = 0.22 * b
        h = np.array([0, 0, 0.14])
        parts.append(
            quad(
                p - w,
                p + w,
                p + w + h,
                p - w + h,
                (160, 80, 20) if rng.random() < 0.8 else (40, 200, 230),
                normal=sign * a,
            )
        )
    return parts, (length, width)


def bin_object(
    rng: np.random.Generator, s: float, t: float, z: float, yaw: float, state: str
) -> tuple[list[Part], tuple[float, float]]:
    """A street bin. state: closed | empty | full | bags_inside | overflow."""
    width = rng.uniform(0.5, 0.75)
    depth = rng.uniform(0.55, 0.8)
    height = rng.uniform(0.85, 1.15)
    if rng.random() < 0.2:  # large 660 l container
        width, depth, height = rng.uniform(1.1, 1.3), rng.uniform(0.7, 0.85), rng.uniform(1.1, 1.3)
    col = jitter_color(rng, _pick(rng, BIN_COLORS), 0.08)
    dark = tuple(c * 0.7 for c in col)
    parts: list[Part] = []
    top_col: Color = dark if state == "closed" else (22, 22, 22)
    if state in ("full", "overflow"):
        top_col = jitter_color(rng, _pick(rng, BAG_COLORS), 0.1)
    if state == "bags_inside":
        top_col = (26, 26, 26)
    parts += box(s, t, z, width, depth, height, yaw, {"default": col, "top": top_col})
    a = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    b = np.array([-math.sin(yaw), math.cos(yaw), 0.0])
    c = np.array([s, t, z])
    # a darker band near the base and a label panel
    band = c + np.array([0, 0, height * 0.12])
    for sb in (1, -1):
        p = band + sb * (depth / 2 + 0.004) * b
        w = (width / 2 - 0.04) * a
        h = np.array([0, 0, 0.07])
        parts.append(quad(p - w, p + w, p + w + h, p - w + h, dark, normal=sb * b))
        p2 = c + sb * (depth / 2 + 0.004) * b + np.array([0, 0, height * 0.45])
        w2 = width * 0.22 * a
        h2 = np.array([0, 0, height * 0.25])
        parts.append(quad(p2 - w2, p2 + w2, p2 + w2 + h2, p2 - w2 + h2, (235, 235, 235), normal=sb * b))
    rim = z + height
    if state not in ("closed",):
        # open lid standing up at the back
        back = c - (width / 2) * a + np.array([0, 0, height])
        w = (depth / 2) * b
        up = np.array([0, 0, depth * 0.95]) - 0.12 * a
        parts.append(quad(back - w, back + w, back + w + up, back - w + up, dark, normal=None))
    if state == "full":
        for _ in range(int(rng.integers(2, 5))):
            off = rng.uniform(-0.3, 0.3, 2) * np.array([width, depth])
            p = c + off[0] * a + off[1] * b
            r = rng.uniform(0.1, 0.16)
            lump = blob(p[0], p[1], rim - r * 0.6, r, r * 0.6, jitter_color(rng, _pick(rng, BAG_COLORS)))
            lump.jitter = lumpy_outline(rng)
            parts.append(lump)
    if state == "bags_inside":
        p = c + rng.uniform(-0.15, 0.15) * width * a
        parts.append(blob(p[0], p[1], rim - 0.12, 0.1, 0.06, jitter_color(rng, _pick(rng, BAG_COLORS))))
    if state == "overflow":
        n = int(rng.integers(3, 8))
        for _ in range(n):
            off = rng.uniform(-0.45, 0.45, 2) * np.array([width, depth])
            p = c + off[0] * a + off[1] * b
            r = rng.uniform(0.16, 0.3)
            lump = blob(
                p[0],
                p[1],
                rim + rng.uniform(0.0, 0.35),
                r,
                r * rng.uniform(0.7, 1.0),
                jitter_color(rng, _pick(rng, BAG_COLORS)),
            )
            lump.jitter = lumpy_outline(rng)
            lump.glossy = bool(rng.random() < 0.6)
            parts.append(lump)
        for _ in range(int(rng.integers(0, 5))):  # spilled around the base
            ang = rng.uniform(0, 2 * math.pi)
            dist = rng.uniform(0.45, 0.95) * max(width, depth)
            p = c + dist * (math.cos(ang) * a + math.sin(ang) * b)
            parts += bag(rng, p[0], p[1], z, rng.uniform(0.14, 0.28))
    return parts, (max(width, depth) + (1.6 if state == "overflow" else 0.0), max(width, depth))


def bag(
    rng: np.random.Generator, s: float, t: float, z: float, r: float, color: Color | None = None
) -> list[Part]:
    """A tied refuse bag: a squashed lumpy body (two or three overlapping lumps) and a knot."""
    col = color or jitter_color(rng, _pick(rng, BAG_COLORS))
    glossy = bool(rng.random() < 0.6)
    parts = []
    for _ in range(int(rng.integers(2, 4))):
        rr = r * rng.uniform(0.7, 1.0)
        lump = blob(
            s + rng.uniform(-0.3, 0.3) * r,
            t + rng.uniform(-0.3, 0.3) * r,
            z + rr * 0.6,
            rr,
            rr * rng.uniform(0.55, 0.85),
            jitter_color(rng, col, 0.06),
        )
        lump.jitter = lumpy_outline(rng)
        lump.glossy = glossy
        parts.append(lump)
    knot = blob(s, t, z + r * 1.25, r * 0.22, r * 0.3, col)
    knot.jitter = lumpy_outline(rng, 0.2)
    parts.append(knot)
    return parts


def leafy_outline(rng: np.random.Generator) -> np.ndarray:
    """A ragged leafy silhouette: 16 radial factors with sharp dents."""
    return 1.0 + rng.uniform(-0.28, 0.12, 16)


def lumpy_outline(rng: np.random.Generator, amount: float = 0.13) -> np.ndarray:
    """16 smooth radial factors around 1 (a wrinkled, not elliptic, silhouette)."""
    raw = 1.0 + rng.uniform(-amount, amount, 16)
    return (raw + np.roll(raw, 1) + np.roll(raw, -1)) / 3.0


def garbage_pile(rng: np.random.Generator, s: float, t: float, z: float) -> tuple[list[Part], float]:
    """Bags, boxes and litter lying on the ground without a container. Returns parts and footprint radius."""
    radius = rng.uniform(0.45, 1.4)
    parts: list[Part] = []
    items = []
    for _ in range(int(rng.integers(3, 10))):
        ang = rng.uniform(0, 2 * math.pi)
        d = radius * math.sqrt(rng.random())
        items.append((s + d * math.cos(ang), t + d * math.sin(ang)))
    for ps, pt in items:
        kind = rng.random()
        if kind < 0.65:
            parts += bag(rng, ps, pt, z, rng.uniform(0.22, 0.42))
        elif kind < 0.85:
            cb = jitter_color(rng, (95, 140, 180), 0.15)
            L = rng.uniform(0.3, 0.6)
            parts += box(
                ps, pt, z, L, L * rng.uniform(0.6, 1.0), rng.uniform(0.2, 0.45), rng.uniform(0, math.pi), cb
            )
        else:
            L = rng.uniform(0.4, 0.9)
            yaw = rng.uniform(0, math.pi)
            col = jitter_color(
                rng, _pick(rng, [(220, 220, 220), (95, 140, 180), (60, 160, 200), (200, 200, 230)])
            )
            parts.append(flat_piece(ps, pt, z + 0.015, L, L * 0.7, yaw, col))
    if rng.random() < 0.6:  # a heap: more bags on top of the first layer
        for _ in range(int(rng.integers(1, 4))):
            ang = rng.uniform(0, 2 * math.pi)
            d = radius * 0.5 * math.sqrt(rng.random())
            parts += bag(
                rng,
                s + d * math.cos(ang),
                t + d * math.sin(ang),
                z + rng.uniform(0.3, 0.5),
                rng.uniform(0.22, 0.4),
            )
    # scattered litter
    for _ in range(int(rng.integers(2, 8))):
        ang = rng.uniform(0, 2 * math.pi)
        d = radius * rng.uniform(0.8, 1.4)
        col = jitter_color(rng, _pick(rng, [(230, 230, 230), (60, 60, 200), (40, 160, 220), (120, 160, 200)]))
        parts.append(
            flat_piece(
                s + d * math.cos(ang), t + d * math.sin(ang), z + 0.01, 0.15, 0.1, rng.uniform(0, 3), col
            )
        )
    return parts, radius + 0.4


def flat_piece(s: float, t: float, z: float, length: float, width: float, yaw: float, color: Color) -> Part:
    """A flat rectangle lying on the ground (paper, flattened cardboard, litter): one upward polygon."""
    a = np.array([math.cos(yaw), math.sin(yaw), 0.0]) * length / 2
    b = np.array([-math.sin(yaw), math.cos(yaw), 0.0]) * width / 2
    c = np.array([s, t, z])
    return Part(np.array([c + a + b, c - a + b, c - a - b, c + a - b]), color, np.array([0, 0, 1.0]))


def goods_items(
    rng: np.random.Generator,
    s: float,
    t: float,
    z: float,
    length: float,
    depth: float,
    yaw: float,
    layers: int = 1,
) -> list[Part]:
    """Small colourful boxes and round items (fruit, bottles) laid out on a surface."""
    parts: list[Part] = []
    a = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    b = np.array([-math.sin(yaw), math.cos(yaw), 0.0])
    c = np.array([s, t, z])
    nx = max(1, int(length / rng.uniform(0.18, 0.35)))
    ny = max(1, int(depth / rng.uniform(0.2, 0.35)))
    round_goods = rng.random() < 0.45
    palette = [jitter_color(rng, _pick(rng, GOODS_COLORS)) for _ in range(4)]
    for layer in range(layers):
        for i in range(nx):
            for j in range(ny):
                if rng.random() < 0.15:
                    continue
                p = c + ((i + 0.5) / nx - 0.5) * length * a + ((j + 0.5) / ny - 0.5) * depth * b
                col = palette[int(rng.integers(len(palette)))]
                if round_goods:
                    r = min(length / nx, depth / ny) * 0.45
                    for _ in range(3):
                        q = p + rng.uniform(-0.3, 0.3) * r * a + rng.uniform(-0.3, 0.3) * r * b
                        parts.append(blob(q[0], q[1], z + layer * 2 * r + r * 0.8, r * 0.7, r * 0.7, col))
                else:
                    h = rng.uniform(0.1, 0.35)
                    parts += box(
                        p[0], p[1], z + layer * 0.3, length / nx * 0.85, depth / ny * 0.85, h, yaw, col
                    )
    return parts


def vending_stall(
    rng: np.random.Generator, s: float, t: float, z: float, yaw: float, variant: str | None = None
) -> tuple[list[Part], tuple[float, float]]:
    """Goods displayed outside a shop: table, rack, umbrella stall, crates, clothes rail or stacked boxes."""
    variant = variant or str(_pick(rng, ["table", "rack", "umbrella", "crates", "clothes", "stack"]))
    a = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    b = np.array([-math.sin(yaw), math.cos(yaw), 0.0])
    c = np.array([s, t, z])
    parts: list[Part] = []
    if variant in ("table", "umbrella"):
        L, D, H = rng.uniform(1.0, 2.2), rng.uniform(0.6, 1.0), rng.uniform(0.7, 0.9)
        cloth = jitter_color(
            rng,
            _pick(
                rng,
                [
                    (40, 40, 170),
                    (200, 200, 200),
                    (160, 100, 40),
                    (50, 130, 50),
                    (40, 150, 220),
                    (120, 60, 150),
                ],
            ),
        )
        for sa in (0.45, -0.45):
            for sb in (0.4, -0.4):
                p = c + sa * L * a + sb * D * b
                parts += box(p[0], p[1], z, 0.05, 0.05, H, yaw, (60, 60, 60))
        parts += box(s, t, z + H - 0.05, L, D, 0.05, yaw, {"default": cloth})
        # cloth hanging down the front
        parts += box(
            s,
            t,
            z + H - 0.35,
            L,
            D + 0.02,
            0.3,
            yaw,
            {"default": tuple(x * 0.85 for x in cloth)},
            skip=("bottom", "top"),
        )
        parts += goods_items(rng, s, t, z + H, L * 0.95, D * 0.9, yaw, layers=int(rng.integers(1, 3)))
        if variant == "umbrella":
            pole_top = z + rng.uniform(2.0, 2.4)
            parts += box(s, t, z, 0.05, 0.05, pole_top - z, yaw, (90, 90, 90))
            r = rng.uniform(1.0, 1.4)
            col = jitter_color(
                rng,
                _pick(rng, [(40, 40, 200), (200, 120, 30), (40, 200, 230), (230, 230, 230), (60, 150, 60)]),
            )
            col2 = (235, 235, 235)
            n = 8
            for k in range(n):
                a0 = 2 * math.pi * k / n
                a1 = 2 * math.pi * (k + 1) / n
                p0 = c + np.array([r * math.cos(a0), r * math.sin(a0), pole_top - z - 0.35])
                p1 = c + np.array([r * math.cos(a1), r * math.sin(a1), pole_top - z - 0.35])
                apex = c + np.array([0, 0, pole_top - z])
                parts.append(Part(np.array([p0, p1, apex]), col if k % 2 == 0 else col2, None))
        return parts, (L, D)
    if variant == "rack":
        L, D, H = rng.uniform(0.8, 1.8), rng.uniform(0.35, 0.6), rng.uniform(1.2, 1.9)
        frame = jitter_color(rng, _pick(rng, [(70, 70, 70), (200, 200, 200), (40, 60, 120)]))
        for sa in (0.48, -0.48):
            p = c + sa * L * a
            parts += box(p[0], p[1], z, 0.05, D, H, yaw, frame)
        shelves = int(rng.integers(2, 5))
        for k in range(shelves):
            zz = z + 0.15 + k * (H - 0.25) / shelves
            parts += box(s, t, zz, L, D, 0.03, yaw, frame)
            parts += goods_items(rng, s, t, zz + 0.03, L * 0.92, D * 0.85, yaw)
        return parts, (L, D)
    if variant == "crates":
        parts_l = 0.0
        n = int(rng.integers(2, 7))
        L_all = rng.uniform(0.9, 2.4)
        crate_col = jitter_color(
            rng, _pick(rng, [(40, 40, 180), (40, 150, 60), (50, 160, 220), (90, 130, 170)])
        )
        for k in range(n):
            off = ((k + 0.5) / n - 0.5) * L_all
            p = c + off * a + rng.uniform(-0.1, 0.1) * b
            stack = int(rng.integers(1, 3))
            for level in range(stack):
                parts += box(p[0], p[1], z + level * 0.28, L_all / n * 0.95, 0.4, 0.27, yaw, crate_col)
            parts += goods_items(rng, p[0], p[1], z + stack * 0.28, L_all / n * 0.9, 0.38, yaw)
            parts_l = L_all
        return parts, (parts_l, 0.5)
    if variant == "clothes":
        L, H = rng.uniform(1.0, 2.0), rng.uniform(1.4, 1.7)
        for sa in (0.5, -0.5):
            p = c + sa * L * a
            parts += box(p[0], p[1], z, 0.04, 0.04, H, yaw, (150, 150, 150))
            parts += box(p[0], p[1], z, 0.06, 0.5, 0.04, yaw, (150, 150, 150))
        parts += box(s, t, z + H - 0.03, L, 0.03, 0.03, yaw, (150, 150, 150))
        n = int(L / 0.12)
        for k in range(n):
            off = ((k + 0.5) / n - 0.5) * L
            p = c + off * a + np.array([0, 0, H - 0.05])
            col = jitter_color(rng, _pick(rng, GOODS_COLORS), 0.2)
            length = rng.uniform(0.6, 1.0)
            w = rng.uniform(0.18, 0.25) * b
            parts.append(
                quad(p - w, p + w, p + w - np.array([0, 0, length]), p - w - np.array([0, 0, length]), col)
            )
        return parts, (L, 0.6)
    # stacked cardboard boxes / drink packs
    L, D = rng.uniform(0.8, 1.8), rng.uniform(0.5, 0.9)
    nx = int(rng.integers(2, 5))
    tone = (95, 140, 180) if rng.random() < 0.6 else jitter_color(rng, _pick(rng, GOODS_COLORS))
    for i in range(nx):
        p = c + ((i + 0.5) / nx - 0.5) * L * a
        h_total = 0.0
        for _ in range(int(rng.integers(1, 5))):
            h = rng.uniform(0.25, 0.45)
            parts += box(
                p[0],
                p[1],
                z + h_total,
                L / nx * 0.95,
                D * rng.uniform(0.8, 1.0),
                h,
                yaw,
                jitter_color(rng, tone, 0.1),
            )
            h_total += h
    return parts, (L, D)


def soil_patch(
    rng: np.random.Generator, s: float, t: float, z: float, rs: float, rt: float, netted: bool, mound: bool
) -> tuple[list[Part], list[GroundPatch]]:
    """Bare earth (optionally heaped), or the same covered by a green dust net (a hard negative)."""
    poly = irregular_polygon(rng, s, t, rs, rt, n=16, rough=0.22)
    tex = "net" if netted else str(_pick(rng, ["soil", "soil2"]))
    tint = (
        (1.0, 1.0, 1.0)
        if netted
        else tuple(float(v) for v in rng.uniform(0.8, 1.15, 3) * rng.uniform(0.8, 1.1))
    )
    patches = [GroundPatch(poly, z + 0.005, tex, tint)]
    parts: list[Part] = []
    if mound:
        base = (62, 95, 130) if not netted else (55, 120, 35)
        for _ in range(int(rng.integers(3, 7))):
            ps = s + rng.uniform(-0.4, 0.4) * rs
            pt = t + rng.uniform(-0.4, 0.4) * rt
            r = rng.uniform(0.35, 0.6) * min(rs, rt)
            parts.append(blob(ps, pt, z + 0.1, r, r * rng.uniform(0.35, 0.6), jitter_color(rng, base, 0.15)))
    return parts, patches


def tree(rng: np.random.Generator, s: float, t: float, z: float) -> list[Part]:
    """A street tree: trunk and a crown of many overlapping leaf clumps, darker underneath."""
    h = rng.uniform(2.4, 3.4)
    trunk = jitter_color(rng, (60, 75, 95))
    parts = box(s, t, z, 0.22, 0.22, h, rng.uniform(0, 1.5), trunk)
    green = np.array(jitter_color(rng, (45, 95, 55), 0.2))
    crown_r = rng.uniform(1.4, 2.3)
    clumps = []
    for _ in range(int(rng.integers(11, 17))):
        ang = rng.uniform(0, 2 * math.pi)
        d = crown_r * math.sqrt(rng.random())
        zz = z + h + 0.3 + rng.uniform(0, 1.0) * crown_r * 1.3
        clumps.append((zz, s + d * math.cos(ang), t + d * math.sin(ang)))
    clumps.sort()  # lower clumps first: upper ones (lit) drawn over them
    for zz, cs, ct in clumps:
        r = rng.uniform(0.55, 0.95)
        light = 0.6 + 0.6 * (zz - z - h) / (crown_r * 1.6) + rng.uniform(-0.1, 0.1)
        col = tuple(float(c) for c in np.clip(green * light * rng.uniform(0.9, 1.1, 3), 0, 255))
        clump = blob(cs, ct, zz, r, r * 0.8, col, shade=False)
        clump.jitter = leafy_outline(rng)
        parts.append(clump)
    return parts


def shrub_row(rng: np.random.Generator, s0: float, s1: float, t: float, z: float) -> list[Part]:
    parts = []
    green = jitter_color(rng, (45, 105, 55), 0.2)
    s = s0
    while s < s1:
        r = rng.uniform(0.3, 0.55)
        bush = blob(s, t + rng.uniform(-0.15, 0.15), z + r * 0.6, r, r * 0.7, jitter_color(rng, green, 0.2))
        bush.jitter = leafy_outline(rng)
        parts.append(bush)
        s += r * 1.2
    return parts


def person(rng: np.random.Generator, s: float, t: float, z: float) -> list[Part]:
    """A pedestrian: two legs, torso, arms, head with hair (a distractor and occluder)."""
    yaw = rng.uniform(0, 2 * math.pi)
    h = rng.uniform(1.55, 1.85)
    a = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    b = np.array([-math.sin(yaw), math.cos(yaw), 0.0])
    c = np.array([s, t, z])
    pants = jitter_color(rng, _pick(rng, [(40, 40, 40), (120, 80, 40), (100, 100, 100), (150, 150, 160)]))
    shirt = jitter_color(rng, _pick(rng, GOODS_COLORS + [(230, 230, 230), (30, 30, 30)]))
    skin = jitter_color(rng, (120, 150, 190), 0.1)
    stride = rng.uniform(-0.15, 0.15)
    parts: list[Part] = []
    for side, step in ((1, stride), (-1, -stride)):
        p = c + side * 0.09 * b + step * a
        parts += box(p[0], p[1], z, 0.14, 0.13, h * 0.47, yaw, pants)
    parts += box(s, t, z + h * 0.45, 0.22, 0.38, h * 0.37, yaw, shirt)
    for side in (1, -1):
        p = c + side * 0.24 * b - stride * 0.5 * side * a
        parts += box(p[0], p[1], z + h * 0.47, 0.1, 0.09, h * 0.33, yaw, shirt)
        hand = p + np.array([0, 0, h * 0.47])
        parts.append(blob(hand[0], hand[1], hand[2], 0.05, 0.05, skin))
    parts += box(s, t, z + h * 0.82, 0.09, 0.09, h * 0.05, yaw, skin)
    parts.append(blob(s, t, z + h * 0.92, 0.105, 0.12, skin))
    parts.append(blob(s, t, z + h * 0.96, 0.11, 0.085, (30, 30, 35)))
    if rng.random() < 0.3:  # carrying a bag
        p = c + 0.3 * b + np.array([0, 0, h * 0.42])
        parts += box(p[0], p[1], p[2], 0.3, 0.1, 0.3, yaw, jitter_color(rng, _pick(rng, GOODS_COLORS)))
    return parts


def pole(rng: np.random.Generator, s: float, t: float, z: float) -> list[Part]:
    h = rng.uniform(5, 8)
    col = jitter_color(rng, (130, 130, 125))
    parts = box(s, t, z, 0.16, 0.16, h, 0.0, col)
    if rng.random() < 0.5:  # lamp arm towards the road, with its lamp
        parts += box(s, t - 0.8, z + h - 0.1, 0.1, 1.6, 0.1, 0.0, col)
        lamp = blob(s, t - 1.5, z + h - 0.2, 0.22, 0.1, (205, 235, 250), shade=False)
        lamp.emissive = True
        parts.append(lamp)
    if rng.random() < 0.4:  # a sign
        sc = _pick(rng, [(160, 90, 30), (40, 40, 200), (230, 230, 230)])
        parts += box(s, t, z + 2.2, 0.04, 0.6, 0.6, 0.0, sc)
    return parts


def bollard(s: float, t: float, z: float) -> list[Part]:
    return box(s, t, z, 0.14, 0.14, 0.75, 0.0, {"default": (150, 150, 150), "top": (40, 200, 230)})


def barrier(rng: np.random.Generator, s0: float, s1: float, t: float, z: float) -> list[Part]:
    """Red/white or blue hoarding panels (road works, cleared sites)."""
    parts = []
    tall = rng.random() < 0.5
    h = rng.uniform(1.8, 2.4) if tall else 1.0
    cols = (
        [(40, 40, 200), (235, 235, 235)] if not tall else [jitter_color(rng, (160, 110, 40)), (225, 225, 225)]
    )
    s = s0
    k = 0
    while s < s1:
        w = min(2.0, s1 - s)
        parts.append(quad((s, t, z), (s + w, t, z), (s + w, t, z + h), (s, t, z + h), cols[k % 2]))
        s += w
        k += 1
    return parts


def two_wheeler(rng: np.random.Generator, s: float, t: float, z: float, yaw: float) -> list[Part]:
    """An e-bike / scooter / shared bicycle (non-motor vehicles: a hard negative for illegal parking)."""
    a = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    c = np.array([s, t, z])
    kind = rng.random()
    col = jitter_color(
        rng,
        _pick(
            rng, [(40, 190, 240), (200, 130, 30), (40, 40, 40), (220, 220, 220), (50, 50, 190), (60, 150, 60)]
        ),
    )
    wheel_r = 0.3 if kind < 0.5 else 0.22
    base = 1.25 if kind < 0.5 else 1.0
    parts: list[Part] = []
    for sign in (1, -1):
        centre = c + sign * base / 2 * a + np.array([0, 0, wheel_r])
        ring = [
            centre + wheel_r * (math.cos(k) * a + math.sin(k) * np.array([0, 0, 1.0]))
            for k in np.linspace(0, 2 * math.pi, 10, endpoint=False)
        ]
        parts.append(Part(np.array(ring), TYRE, None))
    if kind < 0.5:  # bicycle: thin frame, saddle, basket
        parts += box(s, t, z + wheel_r, base * 0.7, 0.05, 0.45, yaw, col)
        p = c - base * 0.2 * a
        parts += box(p[0], p[1], z + wheel_r + 0.45, 0.25, 0.1, 0.06, yaw, (30, 30, 30))
        q = c + base * 0.45 * a
        parts += box(q[0], q[1], z + wheel_r + 0.35, 0.28, 0.35, 0.25, yaw, col)
    else:  # e-scooter: step-through body, seat, front shield, handlebar
        parts += box(s, t, z + 0.2, base * 0.75, 0.3, 0.25, yaw, col)
        p = c - base * 0.2 * a
        parts += box(p[0], p[1], z + 0.45, 0.5, 0.28, 0.3, yaw, col)
        parts += box(p[0], p[1], z + 0.75, 0.5, 0.26, 0.07, yaw, (30, 30, 30))
        q = c + base * 0.38 * a
        parts += box(q[0], q[1], z + 0.2, 0.12, 0.4, 0.85, yaw, col)
        parts += box(q[0], q[1], z + 1.0, 0.06, 0.65, 0.05, yaw, (40, 40, 40))
    return parts


def awning_parts(shop, P: float) -> list[Part]:
    """A shop's awning: a sloped sheet over the door line and its front edge."""
    col = shop.awning
    z0, z1, out = 2.95, 2.5, 0.9
    return [
        Part(
            np.array([[shop.s0, P, z0], [shop.s1, P, z0], [shop.s1, P - out, z1], [shop.s0, P - out, z1]]),
            col,
            None,
        ),
        Part(
            np.array(
                [
                    [shop.s0, P - out, z1],
                    [shop.s1, P - out, z1],
                    [shop.s1, P - out, z1 - 0.25],
                    [shop.s0, P - out, z1 - 0.25],
                ]
            ),
            (min(255.0, col[0] * 0.8), min(255.0, col[1] * 0.8), min(255.0, col[2] * 0.8)),
            None,
        ),
    ]
