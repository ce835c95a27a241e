"""Seamless procedural texture tiles (asphalt, paving, soil, grass, dust net...), made once per process.

Tiles are `TILE` pixels square at `TEX_RES` metres per pixel and repeat without seams, so a canvas can
sample them at world-anchored offsets: the same street looks the same from every frame of a clip.
The tiles come from a fixed internal seed: they are part of the renderer, not of a scene.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

TILE = 480
TEX_RES = 0.03  # metres per texture pixel
_TEX_SEED = 20261121


def periodic_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise in [-1, 1] that tiles seamlessly: `cells` random values per side, cubic-interpolated."""
    grid = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    big = np.tile(grid, (3, 3))
    up = cv2.resize(big, (3 * size, 3 * size), interpolation=cv2.INTER_CUBIC)
    return up[size : 2 * size, size : 2 * size]


def fractal(
    rng: np.random.Generator, size: int = TILE, octaves: tuple[int, ...] = (4, 12, 40, 120)
) -> np.ndarray:
    out = np.zeros((size, size), np.float32)
    amp = 1.0
    total = 0.0
    for cells in octaves:
        out += amp * periodic_noise(rng, size, cells)
        total += amp
        amp *= 0.6
    return out / total


def _colorize(gray: np.ndarray, base_bgr: tuple[float, float, float], contrast: float) -> np.ndarray:
    base = np.array(base_bgr, np.float32)
    img = base[None, None, :] * (1.0 + contrast * gray[..., None])
    return np.clip(img, 0, 255).astype(np.uint8)


def _speckle(rng: np.random.Generator, size: int, amount: float) -> np.ndarray:
    return rng.normal(0, amount, (size, size)).astype(np.float32)


def _asphalt(rng: np.random.Generator) -> np.ndarray:
    g = 0.55 * fractal(rng) + _speckle(rng, TILE, 0.25)
    img = _colorize(g, (92, 92, 95), 0.22).astype(np.float32)
    # repaired patches and tar-sealed cracks
    for _ in range(6):
        pts = rng.integers(0, TILE, (2, 2))
        cv2.line(
            img, tuple(int(v) for v in pts[0]), tuple(int(v) for v in pts[1]), (55, 55, 58), 2, cv2.LINE_AA
        )
    for _ in range(3):
        c = rng.integers(40, TILE - 40, 2)
        ax = rng.integers(15, 40, 2)
        cv2.ellipse(img, (int(c[0]), int(c[1])), (int(ax[0]), int(ax[1])), 0, 0, 360, (75, 76, 80), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def _paving(
    rng: np.random.Generator, stone_w: int, stone_h: int, base: tuple[int, int, int], bond: bool
) -> np.ndarray:
    """Paving stones: per-stone tone, dark joints, wear. stone sizes must divide TILE."""
    noise = 0.35 * fractal(rng, octaves=(6, 30, 120)) + _speckle(rng, TILE, 0.12)
    tone = np.zeros((TILE, TILE), np.float32)
    rows = TILE // stone_h
    cols = TILE // stone_w
    for r in range(rows):
        shift = (stone_w // 2) if (bond and r % 2) else 0
        vals = rng.normal(0, 0.07, cols)
        for c in range(cols):
            x0 = (c * stone_w + shift) % TILE
            x1 = x0 + stone_w
            if x1 <= TILE:
                tone[r * stone_h : (r + 1) * stone_h, x0:x1] = vals[c]
            else:
                tone[r * stone_h : (r + 1) * stone_h, x0:] = vals[c]
                tone[r * stone_h : (r + 1) * stone_h, : x1 - TILE] = vals[c]
    img = _colorize(noise + tone, base, 0.35).astype(np.float32)
    joint = np.zeros((TILE, TILE), np.uint8)
    for r in range(rows):
        joint[r * stone_h, :] = 1
        shift = (stone_w // 2) if (bond and r % 2) else 0
        for c in range(cols):
            joint[r * stone_h : (r + 1) * stone_h, (c * stone_w + shift) % TILE] = 1
    img[joint > 0] *= 0.62
    return np.clip(img, 0, 255).astype(np.uint8)


def _blind_lane(rng: np.random.Generator) -> np.ndarray:
    img = _paving(rng, 10, 10, (40, 175, 215), False).astype(np.float32)
    # raised bars / dots: small lighter dashes
    for y in range(2, TILE, 5):
        for x in range(2, TILE, 5):
            img[y, x] = img[y, x] * 1.15
    return np.clip(img, 0, 255).astype(np.uint8)


def _soil(rng: np.random.Generator) -> np.ndarray:
    g = 0.7 * fractal(rng, octaves=(3, 10, 35, 140)) + _speckle(rng, TILE, 0.22)
    img = _colorize(g, (62, 95, 130), 0.38).astype(np.float32)
    for _ in range(260):  # pebbles and clods
        c = rng.integers(0, TILE, 2)
        r = int(rng.integers(1, 4))
        shade = float(rng.uniform(0.6, 1.35))
        col = tuple(float(v) for v in np.array([70, 100, 130]) * shade)
        cv2.circle(img, (int(c[0]), int(c[1])), r, col, -1, cv2.LINE_AA)
    return np.clip(img, 0, 255).astype(np.uint8)


def _grass(rng: np.random.Generator) -> np.ndarray:
    g = 0.5 * fractal(rng, octaves=(4, 16, 60)) + _speckle(rng, TILE, 0.35)
    img = _colorize(g, (45, 115, 70), 0.45).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _net(rng: np.random.Generator) -> np.ndarray:
    """Green dust-control net: dark green mesh with lighter threads and folds."""
    folds = 0.5 * fractal(rng, octaves=(3, 8, 24))
    base = _colorize(folds + _speckle(rng, TILE, 0.1), (55, 120, 35), 0.45).astype(np.float32)
    mesh = np.zeros((TILE, TILE), np.float32)
    mesh[::2, :] = 1.0
    mesh[:, ::2] = 1.0
    base *= (0.82 + 0.3 * mesh)[..., None]
    return np.clip(base, 0, 255).astype(np.uint8)


def _gravel(rng: np.random.Generator) -> np.ndarray:
    g = 0.3 * fractal(rng, octaves=(8, 40)) + _speckle(rng, TILE, 0.45)
    return _colorize(g, (140, 145, 150), 0.3)


def _grate(rng: np.random.Generator) -> np.ndarray:
    img = _colorize(0.2 * fractal(rng, octaves=(8, 40)), (45, 50, 55), 0.3).astype(np.float32)
    for k in range(0, TILE, 6):
        img[k : k + 2, :] *= 1.8
    for k in range(0, TILE, 24):
        img[:, k : k + 2] *= 1.8
    return np.clip(img, 0, 255).astype(np.uint8)


def _plaster(rng: np.random.Generator) -> np.ndarray:
    g = 0.5 * fractal(rng, octaves=(3, 12, 48)) + _speckle(rng, TILE, 0.08)
    return _colorize(g, (200, 200, 200), 0.12)


def _wall_tiles(rng: np.random.Generator) -> np.ndarray:
    return _paving(rng, 8, 4, (205, 205, 205), True)


@lru_cache(maxsize=1)
def texture_bank() -> dict[str, np.ndarray]:
    """All tiles (uint8 BGR, TILE x TILE). Made once per process from a fixed seed (about 1 s)."""
    rng = np.random.default_rng(_TEX_SEED)
    return {
        "asphalt": _asphalt(rng),
        "asphalt2": _asphalt(rng),
        "paving_sq": _paving(rng, 10, 10, (160, 165, 170), False),
        "paving_big": _paving(rng, 20, 20, (150, 160, 175), False),
        "paving_brick": _paving(rng, 8, 4, (120, 130, 165), True),
        "paving_red": _paving(rng, 10, 5, (95, 105, 165), True),
        "granite": _paving(rng, 30, 10, (150, 152, 155), False),
        "blind_lane": _blind_lane(rng),
        "soil": _soil(rng),
        "soil2": _soil(rng),
        "grass": _grass(rng),
        "net": _net(rng),
        "gravel": _gravel(rng),
        "grate": _grate(rng),
        "plaster": _plaster(rng),
        "wall_tiles": _wall_tiles(rng),
    }


@lru_cache(maxsize=64)
def scaled_tile(name: str, factor: int) -> np.ndarray:
    """A tile averaged down by an integer factor (coarse canvases far from the camera)."""
    tile = texture_bank()[name]
    if factor == 1:
        return tile
    size = TILE // factor
    return cv2.resize(tile, (size, size), interpolation=cv2.INTER_AREA)


def sample(name: str, factor: int, row0: int, col0: int, rows: int, cols: int) -> np.ndarray:
    """A rows x cols window of the (infinitely repeated) tile starting at (row0, col0) tile pixels."""
    tile = scaled_tile(name, factor)
    size = tile.shape[0]
    r0 = row0 % size
    c0 = col0 % size
    reps_r = (r0 + rows) // size + 1
    reps_c = (c0 + cols) // size + 1
    big = np.tile(tile, (reps_r, reps_c, 1))
    return big[r0 : r0 + rows, c0 : c0 + cols]
