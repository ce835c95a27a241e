"""Still training frames: one street per scene, a few camera positions along it, exact YOLO labels.

Determinism: image `i` of seed `S` depends only on (S, i) (its scene is i // FRAMES_PER_SCENE), so the
number of worker processes never changes the output.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from datasets.synth import effects as fxm
from datasets.synth.camera import Camera
from datasets.synth.labels import box_of, keep, visibility
from datasets.synth.look import random_look
from datasets.synth.render import render_frame
from datasets.synth.world import Densities, Placer, Street, make_street

FRAMES_PER_SCENE = 4
SCENE_STEP_M = 11.0
WIDTH, HEIGHT = 1280, 720


def generator_fingerprint() -> str:
    """sha256 (first 16 hex) of the generator's source: same fingerprint + same seed = same frames."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def class_names() -> list[str]:
    from detector.taxonomy import default_taxonomy

    return default_taxonomy().model_names


def _seed_int(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


@dataclass
class SceneRig:
    """The camera rig of one scene's vehicle."""

    t: float
    height_m: float
    pitch_deg: float
    yaw_deg: float
    hfov_deg: float


@lru_cache(maxsize=2)
def scene(seed: int, scene_id: int) -> tuple[Street, SceneRig]:
    street_seed = _seed_int(seed, scene_id, 1)
    length = FRAMES_PER_SCENE * SCENE_STEP_M + 60
    st = make_street(street_seed, -20.0, length + 120)
    rng = np.random.default_rng([street_seed, 2])
    dens = Densities()
    # vary how busy a scene is, and emphasise one or two classes per scene
    busy = rng.uniform(0.6, 1.6)
    for name in (
        "vending",
        "illegal_parking",
        "soil",
        "bins_overflow",
        "garbage",
        "bins_ok",
        "netted",
        "goods_inside",
    ):
        setattr(dens, name, getattr(dens, name) * busy * rng.uniform(0.6, 1.5))
    for name in rng.choice(
        ["vending", "illegal_parking", "soil", "bins_overflow", "garbage"], 2, replace=False
    ):
        setattr(dens, str(name), getattr(dens, str(name)) * 2.0)
    lanes = st.lane_centres()
    # next to a row of parked cars the view is often blocked: drive one lane further out more often then
    p_kerb_lane = 0.5 if st.road_bays else 0.85
    lane = lanes[0] if (len(lanes) == 1 or rng.random() < p_kerb_lane) else lanes[1]
    dens.bay_cars = 0.25
    corridor = (-12.0, (FRAMES_PER_SCENE - 1) * SCENE_STEP_M + 14.0, lane - 3.2, lane + 1.4)
    placer = Placer(st, rng, keep_clear=[corridor])
    placer.populate(-5.0, (FRAMES_PER_SCENE - 1) * SCENE_STEP_M + 42.0, dens)
    # low, flat classes (garbage piles, soil) are small when far: put some close to each camera position
    for k in range(FRAMES_PER_SCENE):
        near0, near1 = k * SCENE_STEP_M + 4.0, k * SCENE_STEP_M + 17.0
        placer.garbage(near0, near1, int(rng.random() < 0.5))
        placer.soil(near0, near1, int(rng.random() < 0.35), "exposed_soil")
    rig = SceneRig(
        t=float(lane + rng.normal(0, 0.3)),
        height_m=float(rng.uniform(1.5, 2.4)),
        pitch_deg=float(rng.uniform(3, 13)),
        yaw_deg=float(rng.uniform(22, 60)),
        hfov_deg=float(rng.uniform(60, 95)),
    )
    return st, rig


@dataclass
class FrameOutput:
    name: str
    group: str
    labels: list[tuple[int, float, float, float, float]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def render_training_frame(
    seed: int, index: int
) -> tuple[np.ndarray, list[tuple[int, float, float, float, float]], int, str]:
    """Render image `index` of dataset `seed`: (BGR image, YOLO labels, JPEG quality, group id)."""
    scene_id = index // FRAMES_PER_SCENE
    st, rig = scene(seed, scene_id)
    rng = np.random.default_rng([seed, index, 3])
    k = index % FRAMES_PER_SCENE
    cam = Camera(
        s=k * SCENE_STEP_M + float(rng.uniform(-2, 2)),
        t=rig.t + float(rng.normal(0, 0.15)),
        height_m=rig.height_m,
        pitch_deg=rig.pitch_deg + float(rng.normal(0, 0.8)),
        yaw_deg=rig.yaw_deg + float(rng.normal(0, 2.0)),
        hfov_deg=rig.hfov_deg,
        roll_deg=float(rng.normal(0, 1.0)),
        width=WIDTH,
        height=HEIGHT,
    )
    look = random_look(rng)
    fx = fxm.Effects.random(rng)
    if look.night:
        fx.noise *= 1.8  # high gain
    res = render_frame(st, cam, look)
    img = fxm.apply_atmosphere(res.image, res.depth, look, rng)
    img = fxm.apply_tone(img, look)
    img = fxm.apply_camera(img, fx, rng)
    vis = {oid: visibility(res.ids, oid, rec) for oid, rec in res.drawn.items()}
    img, ids = fxm.apply_distortion(img, res.ids, fx.k1)
    if fx.overlay:
        hh, mm, ss = int(rng.integers(7, 20)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
        fxm.overlay_text(
            img,
            f"2026-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d} "
            f"{hh:02d}:{mm:02d}:{ss:02d}  PATROL-{int(rng.integers(1, 99)):02d}",
            int(rng.integers(0, 4)) if rng.random() < 0.5 else 0,
        )
    names = class_names()
    by_id = {o.oid: o for o in st.objects}
    labels = []
    for oid in sorted(vis):
        v = vis[oid]
        if v is None:
            continue
        box = box_of(ids, oid)
        if box is None or not keep(v, box):
            continue
        x1, y1, x2, y2 = box
        cls = names.index(by_id[oid].class_name)
        labels.append(
            (cls, (x1 + x2) / 2 / WIDTH, (y1 + y2) / 2 / HEIGHT, (x2 - x1) / WIDTH, (y2 - y1) / HEIGHT)
        )
    return img, labels, fx.jpeg_quality, group_of(seed, index)


def image_name(seed: int, index: int) -> str:
    return f"synth_s{seed}_{index:06d}"


def _work(args: tuple[int, int, str]) -> FrameOutput:
    seed, index, out = args
    img, labels, quality, group = render_training_frame(seed, index)
    name = image_name(seed, index)
    cv2.imwrite(os.path.join(out, "images", name + ".jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    with open(os.path.join(out, "labels", name + ".txt"), "w", encoding="utf-8") as fh:
        for cls, cx, cy, w, h in labels:
            fh.write(f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    return FrameOutput(name, group, labels)


def generate_images(
    out: Path, n: int, seed: int, workers: int = 1, start: int = 0, progress: bool = True
) -> dict:
    """Write `n` frames, classes.txt, groups.csv, data.yaml and contact_sheet.png; return per-class counts."""
    from tqdm import tqdm

    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    names = class_names()
    jobs = [(seed, i, str(out)) for i in range(start, start + n)]
    results: list[FrameOutput] = []
    bar = tqdm(total=n, desc="synth frames", unit="img", disable=not progress)
    if workers <= 1:
        for job in jobs:
            results.append(_work(job))
            bar.update(1)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for res in pool.map(_work, jobs, chunksize=4):
                results.append(res)
                bar.update(1)
    bar.close()
    results.sort(key=lambda r: r.name)
    (out / "classes.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    write_groups(out)
    import json

    (out / "generator.json").write_text(
        json.dumps(
            {
                "generator": "streetwatch synth",
                "fingerprint": generator_fingerprint(),
                "seed": seed,
                "first_index": start,
                "images": n,
                "note": "frames are comparable only between runs with the same fingerprint",
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    write_data_yaml(out, names)
    counts = Counter(names[c] for r in results for c, *_ in r.labels)
    images_with = Counter(names[c] for r in results for c in {lab[0] for lab in r.labels})
    contact_sheet(out, [r.name for r in results[:16]], out / "contact_sheet.png")
    return {"images": len(results), "boxes": dict(counts), "images_with_class": dict(images_with)}


_NAME_RE = re.compile(r"^synth_s(\d+)_(\d+)$")


def group_of(seed: int, index: int) -> str:
    return f"s{seed}-scene{index // FRAMES_PER_SCENE:06d}"


def write_groups(out: Path) -> None:
    """groups.csv for every generated image in the folder (runs extended with --start included)."""
    rows = []
    for img in sorted((Path(out) / "images").glob("synth_s*_*.jpg")):
        m = _NAME_RE.match(img.stem)
        if m:
            rows.append(f"images/{img.name},{group_of(int(m.group(1)), int(m.group(2)))}\n")
    (Path(out) / "groups.csv").write_text("image,group\n" + "".join(rows), encoding="utf-8")


def write_data_yaml(out: Path, names: list[str]) -> None:
    import yaml

    data = {
        "path": str(Path(out).resolve()),
        "train": "images",
        "val": "images",
        "names": dict(enumerate(names)),
        "nc": len(names),
    }
    (Path(out) / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _hex_bgr(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[4:6], 16), int(c[2:4], 16), int(c[0:2], 16)


def contact_sheet(out: Path, names: list[str], path: Path, cols: int = 4, thumb_w: int = 480) -> None:
    """A grid of frames with their label boxes drawn, for looking at what the generator makes."""
    from detector.taxonomy import default_taxonomy

    tax = default_taxonomy()
    colors = {c.id: _hex_bgr(c.color) for c in tax.classes}
    thumbs = []
    for name in names:
        img = cv2.imread(str(Path(out) / "images" / f"{name}.jpg"))
        if img is None:
            continue
        h, w = img.shape[:2]
        lab = Path(out) / "labels" / f"{name}.txt"
        for line in lab.read_text(encoding="utf-8").splitlines() if lab.exists() else []:
            c, cx, cy, bw, bh = line.split()
            c = int(c)
            x1, y1 = int((float(cx) - float(bw) / 2) * w), int((float(cy) - float(bh) / 2) * h)
            x2, y2 = int((float(cx) + float(bw) / 2) * w), int((float(cy) + float(bh) / 2) * h)
            cv2.rectangle(img, (x1, y1), (x2, y2), colors[c], 3)
            cv2.putText(
                img, tax.model_names[c][:12], (x1, max(12, y1 - 5)), cv2.FONT_HERSHEY_SIMPLEX, 0.9,
                colors[c], 2
            )
        thumbs.append(cv2.resize(img, (thumb_w, int(thumb_w * h / w)), interpolation=cv2.INTER_AREA))
    if not thumbs:
        return
    th, tw = thumbs[0].shape[:2]
    rows = math.ceil(len(thumbs) / cols)
    sheet = np.full((rows * th, cols * tw, 3), 255, np.uint8)
    for k, t in enumerate(thumbs):
        r, c = divmod(k, cols)
        sheet[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = t
    cv2.imwrite(str(path), sheet)
