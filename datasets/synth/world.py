"""A seeded street: cross-section, markings, tree pits, buildings with shops, and the objects on it.

Cross-section (t, metres; the vehicle drives along +s on the road, the right-hand pavement is filmed):
    far facade | far pavement | road (lanes, bays along the kerb) | kerb t=0 | pavement | facade t=P
Everything is generated from one `numpy.random.Generator`, so a seed fixes the street.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from datasets.synth import objects as ob
from datasets.synth.shapes import GroundPatch, SceneObject, jitter_color

SIGN_COLORS = [
    (40, 40, 190),
    (160, 90, 20),
    (30, 150, 40),
    (20, 170, 230),
    (30, 30, 30),
    (230, 230, 230),
    (120, 40, 140),
    (40, 100, 200),
    (20, 20, 140),
    (150, 150, 30),
]
WALL_COLORS = [
    (200, 205, 210),
    (170, 185, 205),
    (150, 165, 190),
    (190, 190, 185),
    (140, 150, 160),
    (205, 215, 225),
    (120, 130, 150),
    (175, 160, 150),
    (100, 115, 160),
    (210, 200, 190),
]
PAVING = ["paving_sq", "paving_big", "paving_brick", "paving_red", "paving_sq", "paving_brick"]


@dataclass
class Shop:
    s0: float
    s1: float
    front: str  # open | glass | shutter
    open_s0: float  # opening (door line) span along s, for open fronts
    open_s1: float
    sign_color: tuple
    text_color: tuple
    sign_text: str
    interior_depth: float
    interior_color: tuple
    awning: tuple | None  # colour of a fabric awning, or None


@dataclass
class Building:
    s0: float
    s1: float
    height: float
    wall: tuple
    texture: str
    window_w: float
    window_h: float
    window_pitch: float
    floor_h: float
    shops: list[Shop] = field(default_factory=list)


@dataclass
class Bay:
    s0: float
    s1: float
    t0: float
    t1: float
    on_pavement: bool
    color: tuple


@dataclass
class Street:
    seed: int
    s_min: float
    s_max: float
    kerb_h: float
    pave_w: float  # P: facade at t = P
    road_w: float
    lane_w: float
    far_pave_w: float
    two_way: bool
    road_tex: str
    pave_tex: str
    pave_tint: tuple
    road_tint: tuple
    blind_lane: tuple[float, float] | None
    road_bays: list[Bay]
    pave_bays: list[Bay]
    crossings: list[tuple[float, float]]
    tree_pits: list[tuple[float, float, float, float, str]]  # s0, s1, t0, t1, cover
    green_belts: list[tuple[float, float, float, float]]
    yellow_kerb: list[tuple[float, float]]  # no-stopping kerb paint spans
    buildings: list[Building]
    far_buildings: list[Building]
    objects: list[SceneObject] = field(default_factory=list)
    patches: list[GroundPatch] = field(default_factory=list)  # unlabelled ground patches

    @property
    def far_kerb_t(self) -> float:
        return -self.road_w

    @property
    def far_facade_t(self) -> float:
        return -self.road_w - self.far_pave_w

    def lane_centres(self) -> list[float]:
        """Centres (t) of the lanes in the direction of travel, kerb side first (outside road bays)."""
        start = -2.3 if self.road_bays else 0.0
        lanes = []
        width_dir = self.road_w / 2 if self.two_way else self.road_w
        c = start - self.lane_w / 2
        while c - self.lane_w / 2 >= -width_dir - 0.01:
            lanes.append(c)
            c -= self.lane_w
        return lanes or [start - self.lane_w / 2]


_WORDS = [
    "MART",
    "CAFE",
    "HOTEL",
    "BANK",
    "PHARMACY",
    "NOODLES",
    "TEA",
    "MOBILE",
    "FRUIT",
    "BAKERY",
    "OPTICAL",
    "HAIR",
    "DUMPLING",
    "24H",
    "MARKET",
    "HOTPOT",
    "SHOES",
    "KIDS",
    "BOOKS",
    "LOTTERY",
]


def _sign_text(rng: np.random.Generator) -> str:
    words = [_WORDS[int(rng.integers(len(_WORDS)))] for _ in range(int(rng.integers(1, 3)))]
    return " ".join(words)


def _buildings(rng: np.random.Generator, s_min: float, s_max: float, with_shops: bool) -> list[Building]:
    out = []
    s = s_min
    while s < s_max:
        w = rng.uniform(8, 30)
        floor_h = rng.uniform(2.9, 3.4)
        b = Building(
            s0=s,
            s1=s + w,
            height=float(rng.choice([rng.uniform(6, 10), rng.uniform(10, 22), rng.uniform(18, 30)])),
            wall=jitter_color(rng, WALL_COLORS[int(rng.integers(len(WALL_COLORS)))], 0.08),
            texture=str(rng.choice(["plaster", "wall_tiles", "plaster"])),
            window_w=rng.uniform(1.0, 2.0),
            window_h=rng.uniform(1.2, 1.8),
            window_pitch=rng.uniform(2.4, 4.0),
            floor_h=floor_h,
        )
        if with_shops:
            x = s + rng.uniform(0.0, 0.6)
            while x < s + w - 2.5:
                sw = min(rng.uniform(3.5, 9.0), s + w - x)
                front = str(rng.choice(["open", "open", "open", "glass", "shutter"]))
                door = rng.uniform(0.4, 0.85) * sw
                o0 = x + rng.uniform(0.15, 0.5) + rng.uniform(0, max(0.01, sw - door - 0.6))
                b.shops.append(
                    Shop(
                        s0=x,
                        s1=x + sw,
                        front=front,
                        open_s0=o0,
                        open_s1=min(o0 + door, x + sw - 0.2),
                        sign_color=jitter_color(rng, SIGN_COLORS[int(rng.integers(len(SIGN_COLORS)))], 0.1),
                        text_color=(255, 255, 255) if rng.random() < 0.6 else (0, 220, 255),
                        sign_text=_sign_text(rng),
                        interior_depth=rng.uniform(3, 7),
                        interior_color=jitter_color(rng, (150, 165, 185), 0.25),
                        awning=jitter_color(rng, SIGN_COLORS[int(rng.integers(len(SIGN_COLORS)))])
                        if rng.random() < 0.3
                        else None,
                    )
                )
                x += sw + rng.uniform(0.2, 0.6)
        out.append(b)
        s += w
    return out


def make_street(seed: int, s_min: float, s_max: float) -> Street:
    """The static layout of a street (no objects yet)."""
    rng = np.random.default_rng([seed, 1])
    pave_w = float(rng.choice([rng.uniform(3.0, 5.0), rng.uniform(5.0, 9.0), rng.uniform(4.0, 7.0)]))
    two_way = bool(rng.random() < 0.6)
    lane_w = rng.uniform(3.0, 3.75)
    n_lanes = int(rng.integers(2, 5))
    road_w = lane_w * n_lanes + rng.uniform(0, 2.5)
    road_bays: list[Bay] = []
    yellow: list[tuple[float, float]] = []
    if rng.random() < 0.5:
        s = s_min + rng.uniform(0, 20)
        while s < s_max:
            seg = rng.uniform(20, 60)
            if rng.random() < 0.6:
                k = s
                while k + 6 <= s + seg:
                    road_bays.append(Bay(k, k + 6.0, -2.3, 0.0, False, (235, 235, 235)))
                    k += 6.0
            s += seg + rng.uniform(5, 30)
    # no-stopping yellow kerb where there are no bays
    s = s_min
    while s < s_max:
        seg = rng.uniform(20, 80)
        if rng.random() < 0.5 and not any(b.s0 < s + seg and b.s1 > s for b in road_bays):
            yellow.append((s, s + seg))
        s += seg
    pave_bays: list[Bay] = []
    if pave_w >= 6.0 and rng.random() < 0.5:
        s = s_min + rng.uniform(0, 30)
        while s < s_max:
            n = int(rng.integers(2, 6))
            for _ in range(n):
                pave_bays.append(Bay(s, s + 2.5, 0.4, 0.4 + 5.2, True, (230, 230, 230)))
                s += 2.5
            s += rng.uniform(15, 50)
    pits: list[tuple[float, float, float, float, str]] = []
    belts: list[tuple[float, float, float, float]] = []
    style = rng.random()
    if style < 0.55:
        pitch = rng.uniform(5, 9)
        size = rng.uniform(1.0, 1.5)
        tc = rng.uniform(0.35, 0.6) + size / 2
        s = s_min + rng.uniform(0, pitch)
        while s < s_max:
            if not any(b.s0 - 0.5 < s + size and b.s1 + 0.5 > s for b in pave_bays):
                cover = str(rng.choice(["grate", "grass", "gravel", "soil_plain", "grate", "grass"]))
                pits.append((s, s + size, tc - size / 2, tc + size / 2, cover))
            s += pitch
    elif style < 0.8 and pave_w > 3.5:
        s = s_min
        width = rng.uniform(1.0, min(2.2, pave_w - 2.2))
        while s < s_max:
            seg = rng.uniform(12, 40)
            belts.append((s, s + seg, 0.25, 0.25 + width))
            s += seg + rng.uniform(3, 8)
    crossings = []
    s = s_min + rng.uniform(10, 80)
    while s < s_max:
        crossings.append((s, s + rng.uniform(4, 6)))
        s += rng.uniform(60, 200)
    blind = None
    if pave_w >= 3.0 and rng.random() < 0.8:
        c = pave_w * rng.uniform(0.45, 0.7)
        if belts or pits:
            c = max(c, (belts[0][3] if belts else pits[0][3]) + 0.8)
        c = min(c, pave_w - 0.6)
        w = rng.uniform(0.3, 0.5)
        blind = (c - w / 2, c + w / 2)
    return Street(
        seed=seed,
        s_min=s_min,
        s_max=s_max,
        kerb_h=rng.uniform(0.1, 0.18),
        pave_w=pave_w,
        road_w=road_w,
        lane_w=lane_w,
        far_pave_w=rng.uniform(2.5, 6.0),
        two_way=two_way,
        road_tex=str(rng.choice(["asphalt", "asphalt2"])),
        pave_tex=str(rng.choice(PAVING)),
        pave_tint=tuple(float(v) for v in rng.uniform(0.75, 1.2, 3) * rng.uniform(0.8, 1.15)),
        road_tint=tuple(float(v) for v in np.full(3, rng.uniform(0.6, 1.15)) * rng.uniform(0.95, 1.05, 3)),
        blind_lane=blind,
        road_bays=road_bays,
        pave_bays=pave_bays,
        crossings=crossings,
        tree_pits=pits,
        green_belts=belts,
        yellow_kerb=yellow,
        buildings=_buildings(rng, s_min - 10, s_max + 10, with_shops=True),
        far_buildings=_buildings(rng, s_min - 10, s_max + 200, with_shops=False),
    )


# ---------------------------------------------------------------- object placement


class _Occupancy:
    def __init__(self) -> None:
        self.rects: list[tuple[float, float, float, float]] = []

    def free(self, s0: float, s1: float, t0: float, t1: float, margin: float = 0.2) -> bool:
        return all(
            not (s0 - margin < r[1] and s1 + margin > r[0] and t0 - margin < r[3] and t1 + margin > r[2])
            for r in self.rects
        )

    def take(self, s0: float, s1: float, t0: float, t1: float) -> None:
        self.rects.append((s0, s1, t0, t1))


@dataclass
class Densities:
    """Expected number of objects of each kind per 10 m of street (right side)."""

    vending: float = 0.45
    goods_inside: float = 0.3
    illegal_parking: float = 0.3
    bay_cars: float = 0.45
    road_cars: float = 0.2
    soil: float = 0.45
    netted: float = 0.15
    bins_overflow: float = 0.35
    bins_ok: float = 0.25
    garbage: float = 0.5
    people: float = 0.25
    poles: float = 0.2
    two_wheelers: float = 0.25
    far_cars: float = 0.3


class Placer:
    """Puts objects into a street; every object gets a stable id."""

    def __init__(
        self,
        street: Street,
        rng: np.random.Generator,
        keep_clear: list[tuple[float, float, float, float]] | None = None,
    ) -> None:
        self.st = street
        self.rng = rng
        self.occ = _Occupancy()
        self.next_id = 1
        for s0, s1, t0, t1, _ in street.tree_pits:
            self.occ.take(s0, s1, t0, t1)
        for rect in keep_clear or []:  # the patrol vehicle's own path
            self.occ.take(*rect)

    def add(self, obj: SceneObject) -> SceneObject:
        obj.oid = self.next_id
        self.next_id += 1
        self.st.objects.append(obj)
        return obj

    def _count(self, rate: float, s0: float, s1: float) -> int:
        return int(self.rng.poisson(rate * (s1 - s0) / 10.0))

    def _spot(
        self, s0: float, s1: float, t0: float, t1: float, ls: float, lt: float, tries: int = 12
    ) -> tuple[float, float] | None:
        for _ in range(tries):
            s = self.rng.uniform(s0 + ls / 2, max(s0 + ls / 2 + 0.01, s1 - ls / 2))
            t = self.rng.uniform(t0 + lt / 2, max(t0 + lt / 2 + 0.01, t1 - lt / 2))
            if self.occ.free(s - ls / 2, s + ls / 2, t - lt / 2, t + lt / 2):
                self.occ.take(s - ls / 2, s + ls / 2, t - lt / 2, t + lt / 2)
                return s, t
        return None

    def _shop_at(self, s: float) -> Shop | None:
        for b in self.st.buildings:
            for shop in b.shops:
                if shop.s0 <= s <= shop.s1:
                    return shop
        return None

    def populate(self, s0: float, s1: float, d: Densities) -> None:
        st, rng = self.st, self.rng
        P, kh = st.pave_w, st.kerb_h
        # trees in pits and shrubs in belts (fixed furniture, unlabelled)
        for ps0, ps1, pt0, pt1, _cover in st.tree_pits:
            if s0 - 5 <= ps0 <= s1 + 5 and rng.random() < 0.85:
                self.add(
                    SceneObject(
                        0,
                        None,
                        ((ps0 + ps1) / 2, (pt0 + pt1) / 2, kh),
                        ob.tree(rng, (ps0 + ps1) / 2, (pt0 + pt1) / 2, kh),
                        kind="tree",
                    )
                )
        for bs0, bs1, bt0, bt1 in st.green_belts:
            if bs1 < s0 - 5 or bs0 > s1 + 5:
                continue
            for k in np.arange(bs0 + 3, bs1 - 1, rng.uniform(6, 10)):
                self.add(
                    SceneObject(
                        0, None, (k, (bt0 + bt1) / 2, kh), ob.tree(rng, k, (bt0 + bt1) / 2, kh), kind="tree"
                    )
                )
            if rng.random() < 0.5:
                self.add(
                    SceneObject(
                        0,
                        None,
                        (bs0, bt1 - 0.3, kh),
                        ob.shrub_row(rng, bs0 + 0.3, bs1 - 0.3, bt1 - 0.35, kh),
                        kind="shrubs",
                    )
                )
            self.occ.take(bs0, bs1, bt0, bt1)
        for b in st.buildings:
            for shop in b.shops:
                if shop.awning is not None and shop.s1 > s0 - 5 and shop.s0 < s1 + 5:
                    self.add(
                        SceneObject(
                            0,
                            None,
                            ((shop.s0 + shop.s1) / 2, P - 0.45, kh),
                            ob.awning_parts(shop, P),
                            cast_shadow=True,
                            kind="awning",
                        )
                    )
        # vending in front of shops (beyond the door line) and goods inside (behind it)
        for _ in range(self._count(d.vending, s0, s1)):
            s = rng.uniform(s0, s1)
            shop = self._shop_at(s)
            if shop is None:
                continue
            yaw = rng.choice([0.0, math.pi]) + rng.normal(0, 0.08)
            variant = str(rng.choice(["table", "rack", "umbrella", "crates", "clothes", "stack"]))
            depth_out = rng.uniform(0.7, min(3.0, max(0.8, P - 1.2)))
            spot = self._spot(shop.s0, shop.s1, P - depth_out - 0.6, P - 0.35, 1.6, 0.9)
            if spot is None:
                continue
            parts, _ = ob.vending_stall(rng, spot[0], spot[1], kh, yaw, variant)
            self.add(
                SceneObject(
                    0, "out_of_store_vending", (spot[0], spot[1], kh), parts, kind=f"vending_{variant}"
                )
            )
        for b in st.buildings:
            for shop in b.shops:
                if shop.front != "open" or shop.s1 < s0 or shop.s0 > s1:
                    continue
                if rng.random() < min(0.9, d.goods_inside * 3):
                    n = int(rng.integers(1, 3))
                    for _ in range(n):
                        s = rng.uniform(shop.open_s0, shop.open_s1)
                        t = P + rng.uniform(0.5, min(2.5, shop.interior_depth - 0.8))
                        variant = str(rng.choice(["table", "rack", "crates", "stack", "clothes"]))
                        parts, _ = ob.vending_stall(rng, s, t, kh, rng.choice([0.0, math.pi]), variant)
                        self.add(SceneObject(0, None, (s, t, kh), parts, interior=True, kind="goods_inside"))
        # illegal parking: on the pavement outside bays, on a crossing, on the blind lane
        for _ in range(self._count(d.illegal_parking, s0, s1)):
            where = rng.choice(["pavement", "pavement", "crossing", "blind_lane", "half_kerb"])
            if where == "crossing" and st.crossings:
                cs = [c for c in st.crossings if s0 <= c[0] <= s1]
                if not cs:
                    continue
                c = cs[int(rng.integers(len(cs)))]
                spot = self._spot(c[0] - 2.0, c[1] + 2.0, -2.6, -0.2, 4.6, 1.9)
                z = 0.0
                yaw = rng.normal(0, 0.05)
            else:
                if P < 2.6:
                    continue
                perpendicular = P > 5.5 and rng.random() < 0.4
                ls, lt = (1.9, 4.6) if perpendicular else (4.6, 1.9)
                lo, hi = 0.2, P - 0.3
                if where == "blind_lane" and st.blind_lane:
                    c = (st.blind_lane[0] + st.blind_lane[1]) / 2
                    lo, hi = max(0.2, c - lt / 2 - 0.3), min(P - 0.3, c + lt / 2 + 0.3)
                spot = self._spot(s0, s1, lo, hi, ls, lt)
                if spot and any(b.s0 - 1 < spot[0] < b.s1 + 1 for b in st.pave_bays):
                    spot = None
                z = kh
                yaw = (math.pi / 2 if perpendicular else 0.0) + rng.normal(0, 0.08) + rng.choice([0, math.pi])
            if spot is None:
                continue
            parts, _ = ob.vehicle(
                rng, spot[0], spot[1], z, yaw, str(rng.choice(["car", "car", "suv", "van", "taxi"]))
            )
            self.add(SceneObject(0, "illegal_parking", (spot[0], spot[1], z), parts, kind=f"parked_{where}"))
        # legal cars: in road bays and pavement bays
        for bay in st.road_bays + st.pave_bays:
            if bay.s1 < s0 or bay.s0 > s1 or rng.random() > min(0.95, d.bay_cars * 2):
                continue
            cs, ct = (bay.s0 + bay.s1) / 2, (bay.t0 + bay.t1) / 2
            yaw = (math.pi / 2 if bay.on_pavement else 0.0) + rng.normal(0, 0.03) + rng.choice([0, math.pi])
            z = kh if bay.on_pavement else 0.0
            self.occ.take(bay.s0, bay.s1, bay.t0, bay.t1)
            parts, _ = ob.vehicle(rng, cs, ct, z, yaw)
            self.add(SceneObject(0, "vehicle", (cs, ct, z), parts, kind="car_in_bay"))
        # parked at the kerb on the road where there are no bays (context vehicles, no-parking where yellow)
        for _ in range(self._count(d.road_cars * 0.6, s0, s1)):
            spot = self._spot(s0, s1, -2.2, -0.2, 4.8, 2.0)
            if spot is None or any(b.s0 - 3 < spot[0] < b.s1 + 3 for b in st.road_bays):
                continue
            parts, _ = ob.vehicle(rng, spot[0], spot[1], 0.0, rng.normal(0, 0.03))
            self.add(SceneObject(0, "vehicle", (spot[0], spot[1], 0.0), parts, kind="parked_kerbside"))
        # cars in the traffic lanes and on the far side
        lanes = st.lane_centres()
        for _ in range(self._count(d.road_cars, s0, s1)):
            lane = lanes[int(rng.integers(len(lanes)))]
            spot = self._spot(s0, s1, lane - 1.0, lane + 1.0, 5.0, 2.0)
            if spot is None:
                continue
            parts, _ = ob.vehicle(rng, spot[0], spot[1], 0.0, rng.normal(0, 0.02))
            self.add(SceneObject(0, "vehicle", (spot[0], spot[1], 0.0), parts, kind="traffic"))
        if st.two_way:
            for _ in range(self._count(d.far_cars, s0, s1 + 40)):
                t = -st.road_w + rng.uniform(1.2, st.road_w / 2 - 1.2)
                spot = self._spot(s0, s1 + 40, t - 0.5, t + 0.5, 5.0, 2.0)
                if spot is None:
                    continue
                parts, _ = ob.vehicle(rng, spot[0], spot[1], 0.0, math.pi + rng.normal(0, 0.02))
                self.add(SceneObject(0, "vehicle", (spot[0], spot[1], 0.0), parts, kind="oncoming"))
        # bins: overflowing ones and fine ones (waste_bin: the hard negative of overflowing_bin)
        for label, rate in (("overflow", d.bins_overflow), ("ok", d.bins_ok)):
            for _ in range(self._count(rate, s0, s1)):
                near_kerb = rng.random() < 0.5
                t_lo, t_hi = (0.3, 1.6) if near_kerb else (P - 1.6, P - 0.3)
                n_group = int(rng.integers(1, 4))
                spot = self._spot(s0, s1, t_lo, t_hi, 0.9 * n_group + 1.0, 1.4)
                if spot is None:
                    continue
                yaw = rng.normal(0, 0.1) + (math.pi / 2 if rng.random() < 0.3 else 0.0)
                for k in range(n_group):
                    s = spot[0] + (k - (n_group - 1) / 2) * 0.9
                    if label == "overflow" and (k == 0 or rng.random() < 0.5):
                        state, cls = "overflow", "overflowing_bin"
                    else:
                        state = str(rng.choice(["closed", "empty", "full", "bags_inside", "full"]))
                        cls = "waste_bin"
                    parts, _ = ob.bin_object(rng, s, spot[1], kh, yaw, state)
                    self.add(SceneObject(0, cls, (s, spot[1], kh), parts, kind=f"bin_{state}"))
        self.garbage(s0, s1, self._count(d.garbage, s0, s1))
        # exposed soil: bare tree pits, gaps in green belts, cleared patches; netted soil is a negative
        for ps0, ps1, pt0, pt1, cover in st.tree_pits:
            if not (s0 <= ps0 <= s1) or cover != "soil_plain":
                continue
            poly = np.array([[ps0, pt0], [ps1, pt0], [ps1, pt1], [ps0, pt1]])
            obj = SceneObject(
                0, "exposed_soil", ((ps0 + ps1) / 2, pt1, kh), [], cast_shadow=False, kind="soil_tree_pit"
            )
            obj.patches.append(GroundPatch(poly, kh + 0.004, str(rng.choice(["soil", "soil2"]))))
            self.add(obj)
        self.soil(s0, s1, self._count(d.soil, s0, s1), "exposed_soil")
        self.soil(s0, s1, self._count(d.netted, s0, s1), None)
        # rows of parked e-bikes / bicycles (non-motor vehicles: not illegal parking of a motor vehicle)
        for _ in range(self._count(d.two_wheelers, s0, s1)):
            n = int(rng.integers(1, 7))
            near_kerb = rng.random() < 0.6
            spot = self._spot(
                s0, s1, 0.3 if near_kerb else P - 1.8, 1.9 if near_kerb else P - 0.2, 0.7 * n + 0.4, 1.5
            )
            if spot is None:
                continue
            yaw = math.pi / 2 + rng.normal(0, 0.15) + (math.pi if rng.random() < 0.5 else 0.0)
            for k in range(n):
                ps = spot[0] + (k - (n - 1) / 2) * 0.7
                self.add(
                    SceneObject(
                        0,
                        "two_wheeler",
                        (ps, spot[1], kh),
                        ob.two_wheeler(rng, ps, spot[1], kh, yaw),
                        kind="two_wheeler",
                    )
                )
        # people and street furniture (distractors and occluders)
        for _ in range(self._count(d.people, s0, s1)):
            spot = self._spot(s0, s1, 0.3, P - 0.3, 0.6, 0.6)
            if spot:
                self.add(
                    SceneObject(
                        0,
                        "person",
                        (spot[0], spot[1], kh),
                        ob.person(rng, spot[0], spot[1], kh),
                        kind="person",
                    )
                )
        for _ in range(self._count(d.poles, s0, s1)):
            spot = self._spot(s0, s1, 0.25, 0.5, 0.3, 0.25)
            if spot:
                self.add(
                    SceneObject(
                        0, None, (spot[0], spot[1], kh), ob.pole(rng, spot[0], spot[1], kh), kind="pole"
                    )
                )
        if rng.random() < 0.3:
            for _ in range(int(rng.integers(2, 8))):
                spot = self._spot(s0, s1, 0.25, 0.45, 0.2, 0.2)
                if spot:
                    self.add(
                        SceneObject(
                            0, None, (spot[0], spot[1], kh), ob.bollard(spot[0], spot[1], kh), kind="bollard"
                        )
                    )

    def garbage(self, s0: float, s1: float, n: int) -> None:
        """Exposed garbage piles on the pavement (and sometimes in the kerb gutter)."""
        st, rng = self.st, self.rng
        P, kh = st.pave_w, st.kerb_h
        for _ in range(n):
            gutter = rng.random() < 0.2
            spot = self._spot(s0, s1, -0.9 if gutter else 0.2, -0.1 if gutter else P - 0.3, 1.8, 1.6)
            if spot is None:
                continue
            z = 0.0 if gutter else kh
            parts, _ = ob.garbage_pile(rng, spot[0], spot[1], z)
            self.add(SceneObject(0, "exposed_garbage", (spot[0], spot[1], z), parts, kind="garbage_pile"))

    def soil(self, s0: float, s1: float, n: int, label: str | None) -> None:
        """Bare soil patches (label) or the same under a green dust net (label None: a hard negative)."""
        st, rng = self.st, self.rng
        P, kh = st.pave_w, st.kerb_h
        for _ in range(n):
            rs, rt = rng.uniform(1.0, 3.5), rng.uniform(0.6, max(0.7, min(2.2, P / 2 - 0.2)))
            if st.green_belts and rng.random() < 0.6:
                belts = [b for b in st.green_belts if b[1] > s0 and b[0] < s1]
                if not belts:
                    continue
                b = belts[int(rng.integers(len(belts)))]
                rt = (b[3] - b[2]) / 2 * 0.9
                s = rng.uniform(max(b[0], s0) + rs, max(max(b[0], s0) + rs + 0.1, min(b[1], s1) - rs))
                t = (b[2] + b[3]) / 2
                kind = "soil_green_belt"
            else:
                spot = self._spot(s0, s1, 0.2, P - 0.2, 2 * rs, 2 * rt)
                if spot is None:
                    continue
                s, t = spot
                kind = "soil_cleared"
            mound = rng.random() < 0.5
            parts, patches = ob.soil_patch(rng, s, t, kh, rs, rt, netted=label is None, mound=mound)
            obj = SceneObject(
                0,
                label,
                (s, t + rt, kh),
                parts,
                patches,
                cast_shadow=mound,
                kind=kind if label else "soil_netted",
            )
            if (
                kind == "soil_cleared" and rng.random() < 0.3
            ):  # hoarding behind it: its own, unlabelled object
                fence = ob.barrier(rng, s - rs, s + rs, t + rt + 0.2, kh)
                self.add(SceneObject(0, None, (s, t + rt + 0.2, kh), fence, kind="hoarding"))
            self.add(obj)
