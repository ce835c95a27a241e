"""Camera and weather effects applied after rendering: haze, rain, exposure, blur, noise, lens distortion.

Geometric effects (lens distortion) are applied to the id buffer with the same map, so labels computed
afterwards match the pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from datasets.synth.look import Look


@dataclass
class Effects:
    motion_blur: int = 0  # kernel length in pixels, 0 = none
    motion_angle: float = 0.0
    defocus: float = 0.0  # gaussian sigma
    noise: float = 3.0  # luminance noise sigma (8-bit units)
    chroma_noise: float = 1.5
    vignette: float = 0.0
    k1: float = 0.0  # radial distortion (normalised by the half-diagonal)
    jpeg_quality: int = 90
    overlay: bool = False  # dashcam-style timestamp text

    @classmethod
    def random(cls, rng: np.random.Generator, allow_distortion: bool = True) -> Effects:
        return cls(
            motion_blur=int(rng.integers(3, 12)) if rng.random() < 0.3 else 0,
            motion_angle=float(rng.normal(0, 8)),
            defocus=float(rng.uniform(0.4, 1.3)) if rng.random() < 0.35 else 0.0,
            noise=float(rng.uniform(1.5, 7.0)),
            chroma_noise=float(rng.uniform(0.5, 3.0)),
            vignette=float(rng.uniform(0.1, 0.45)) if rng.random() < 0.5 else 0.0,
            k1=float(rng.uniform(-0.12, 0.04)) if (allow_distortion and rng.random() < 0.4) else 0.0,
            jpeg_quality=int(rng.integers(35, 96)),
            overlay=bool(rng.random() < 0.4),
        )


def apply_atmosphere(
    img: np.ndarray, depth: np.ndarray | None, look: Look, rng: np.random.Generator
) -> np.ndarray:
    """Haze by distance and rain (uint8 in, uint8 out)."""
    if depth is not None and look.haze > 0:
        t = (1.0 - np.exp(-look.haze * np.minimum(depth, 2000.0))).astype(np.float32)
        haze = np.empty_like(img)
        haze[:] = np.clip(np.asarray(look.haze_color), 0, 255).astype(np.uint8)
        img = cv2.blendLinear(img, haze, 1.0 - t, t)
    if look.rain > 0:
        h, w = img.shape[:2]
        streaks = np.zeros((h, w), np.uint8)
        n = int(400 * look.rain)
        xs = rng.uniform(0, w, n)
        ys = rng.uniform(0, h, n)
        lens = rng.uniform(10, 35, n)
        ang = math.radians(float(rng.normal(8, 4)))
        for x, y, ln in zip(xs, ys, lens, strict=True):
            cv2.line(
                streaks,
                (int(x), int(y)),
                (int(x + ln * math.sin(ang)), int(y + ln * math.cos(ang))),
                int(rng.uniform(20, 60) * look.rain),
                1,
                cv2.LINE_AA,
            )
        streaks = cv2.GaussianBlur(streaks, (3, 3), 0)
        gray = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        img = cv2.addWeighted(img, 0.8 * 0.88, gray, 0.2 * 0.88, 0)
        img = cv2.add(img, cv2.cvtColor(streaks, cv2.COLOR_GRAY2BGR))
    return img


def apply_tone(img: np.ndarray, look: Look) -> np.ndarray:
    """Exposure, white balance and gamma as one per-channel lookup table, then saturation."""
    x = np.arange(256, dtype=np.float32)
    lut = np.stack(
        [
            np.clip(255.0 * (np.clip(x * wb * look.exposure, 0, 255) / 255.0) ** look.gamma, 0, 255)
            for wb in look.white_balance
        ],
        axis=1,
    ).astype(np.uint8)
    out = cv2.LUT(img, lut.reshape(256, 1, 3))
    if abs(look.saturation - 1.0) > 0.02:
        gray = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        out = cv2.addWeighted(out, look.saturation, gray, 1.0 - look.saturation, 0)
    return out


NOISE_SCALE = 16.0  # the bank stores 128 + 16 * N(0, 1)


@lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """A fixed field of sensor noise (luminance plus half as much blotchy chroma), uint8 around 128."""
    rng = np.random.default_rng(99)
    lum = rng.standard_normal((1024, 1600, 1), dtype=np.float32)
    chroma = rng.standard_normal((256, 400, 3), dtype=np.float32)
    chroma = cv2.resize(chroma, (1600, 1024), interpolation=cv2.INTER_LINEAR)
    field = (lum + 0.5 * chroma) / math.sqrt(1.0 + 0.25 * 0.5)
    return np.clip(128.0 + NOISE_SCALE * field, 0, 255).astype(np.uint8)


@lru_cache(maxsize=1)
def _radius2(w: int, h: int) -> np.ndarray:
    yy = (np.arange(h, dtype=np.float32) - h / 2) / (h / 2)
    xx = (np.arange(w, dtype=np.float32) - w / 2) / (w / 2)
    r2 = (xx[None, :] ** 2) * 0.6 + (yy[:, None] ** 2) * 0.4
    return cv2.cvtColor(r2, cv2.COLOR_GRAY2BGR)


def apply_camera(img: np.ndarray, fx: Effects, rng: np.random.Generator) -> np.ndarray:
    """Blur, vignetting and sensor noise on a uint8 image."""
    h, w = img.shape[:2]
    if fx.motion_blur > 1:
        k = np.zeros((fx.motion_blur, fx.motion_blur), np.float32)
        k[fx.motion_blur // 2, :] = 1.0
        centre = (fx.motion_blur / 2 - 0.5, fx.motion_blur / 2 - 0.5)
        k = cv2.warpAffine(k, cv2.getRotationMatrix2D(centre, fx.motion_angle, 1.0), (fx.motion_blur,) * 2)
        k /= max(1e-6, k.sum())
        img = cv2.filter2D(img, -1, k)
    if fx.defocus > 0:
        img = cv2.GaussianBlur(img, (0, 0), fx.defocus)
    if fx.vignette > 0:
        img = cv2.multiply(img, 1.0 - fx.vignette * _radius2(w, h), dtype=cv2.CV_8U)
    bank = _noise_bank()
    oy, ox = int(rng.integers(0, bank.shape[0] - h)), int(rng.integers(0, bank.shape[1] - w))
    k = fx.noise / NOISE_SCALE
    return cv2.addWeighted(img, 1.0, bank[oy : oy + h, ox : ox + w], k, -128.0 * k)


def distortion_maps(w: int, h: int, k1: float) -> tuple[np.ndarray, np.ndarray]:
    """remap() maps for barrel (k1 < 0) or pincushion distortion, radius normalised by the half-diagonal.

    Computed on a 1/8 grid and scaled up (the maps are smooth).
    """
    cx, cy = w / 2.0, h / 2.0
    norm = math.hypot(cx, cy)
    sw, sh = w // 8 + 1, h // 8 + 1
    xs = (np.arange(sw, dtype=np.float32) * 8 - cx) / norm
    ys = (np.arange(sh, dtype=np.float32) * 8 - cy) / norm
    xd, yd = np.meshgrid(xs, ys)
    # a distorted pixel samples the undistorted image at r_u ~ r_d (1 - k1 r_d^2); barrel distortion is
    # zoomed by 1/(1 - k1) so that the corners never sample outside the frame
    scale = (1.0 - k1 * (xd * xd + yd * yd)) / (1.0 - min(k1, 0.0))
    mx = xd * scale * norm + cx
    my = yd * scale * norm + cy
    big = (sw * 8, sh * 8)
    map_x = cv2.resize(mx, big, interpolation=cv2.INTER_LINEAR)[:h, :w]
    map_y = cv2.resize(my, big, interpolation=cv2.INTER_LINEAR)[:h, :w]
    return np.ascontiguousarray(map_x), np.ascontiguousarray(map_y)


def apply_distortion(img: np.ndarray, ids: np.ndarray, k1: float) -> tuple[np.ndarray, np.ndarray]:
    if abs(k1) < 1e-6:
        return img, ids
    h, w = ids.shape
    mx, my = distortion_maps(w, h, k1)
    img = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    ids = cv2.remap(ids, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return img, ids


def overlay_text(img: np.ndarray, text: str, corner: int) -> None:
    h, w = img.shape[:2]
    scale = 0.7
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    x = 14 if corner % 2 == 0 else w - tw - 14
    y = 14 + th if corner < 2 else h - 14
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235), 2, cv2.LINE_AA)
