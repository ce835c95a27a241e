"""Pinhole camera on a patrol vehicle, in the street frame the generator builds its world in.

Street frame (metres): `s` along the street in the direction of travel, `t` across it, positive to the
RIGHT of the direction of travel, `z` up. The kerb of the right-hand pavement is at t = 0.
(This frame is left-handed; we never use cross products in it, every normal is written out.)

Camera conventions (the ones `camera.yaml` documents and the geo code inverts):
- position: the GPS antenna is at the camera; the camera is `height_m` above the road surface (z = 0);
- `yaw_deg`: rotation of the optical axis from the vehicle heading, clockwise seen from above (to the
  right is positive);
- `pitch_deg`: downward tilt of the optical axis (positive looks down);
- `roll_deg`: rotation about the optical axis (positive turns the image clockwise);
- `hfov_deg`: horizontal field of view; square pixels; principal point at the image centre; no lens
  distortion (clips) unless `k1` says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

NEAR_PLANE_M = 0.25


@dataclass(frozen=True)
class Camera:
    s: float
    t: float
    height_m: float
    pitch_deg: float
    yaw_deg: float
    hfov_deg: float
    roll_deg: float = 0.0
    width: int = 1280
    height: int = 720

    @property
    def fx(self) -> float:
        return (self.width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)

    @property
    def cx(self) -> float:
        return self.width / 2.0

    @property
    def cy(self) -> float:
        return self.height / 2.0

    @property
    def position(self) -> np.ndarray:
        return np.array([self.s, self.t, self.height_m], dtype=np.float64)

    def rotation(self) -> np.ndarray:
        """3x3 matrix whose rows are the camera's right, down and forward axes in street coordinates."""
        yaw, pitch, roll = (math.radians(a) for a in (self.yaw_deg, self.pitch_deg, self.roll_deg))
        forward = np.array(
            [math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), -math.sin(pitch)]
        )
        right = np.array([-math.sin(yaw), math.cos(yaw), 0.0])
        down = np.array(
            [-math.sin(pitch) * math.cos(yaw), -math.sin(pitch) * math.sin(yaw), -math.cos(pitch)]
        )
        r = math.cos(roll) * right + math.sin(roll) * down
        d = -math.sin(roll) * right + math.cos(roll) * down
        return np.stack([r, d, forward])

    def intrinsics(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fx, self.cy], [0.0, 0.0, 1.0]])

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """Street points (N,3) -> camera coordinates (N,3): x right, y down, z forward (depth)."""
        return (np.asarray(points, dtype=np.float64) - self.position) @ self.rotation().T

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Street points (N,3) -> pixel coordinates (N,2) and depth (N,). Depth <= 0 is behind the camera."""
        cam = self.to_camera(points)
        z = cam[:, 2]
        safe = np.where(np.abs(z) < 1e-9, 1e-9, z)
        uv = np.empty((len(cam), 2))
        uv[:, 0] = self.fx * cam[:, 0] / safe + self.cx
        uv[:, 1] = self.fx * cam[:, 1] / safe + self.cy
        return uv, z

    def ray(self, u: float, v: float) -> np.ndarray:
        """Unit direction in street coordinates of the ray through pixel (u, v)."""
        d = np.array([(u - self.cx) / self.fx, (v - self.cy) / self.fx, 1.0]) @ self.rotation()
        return d / np.linalg.norm(d)

    def ground_point(self, u: float, v: float, z: float = 0.0) -> tuple[float, float] | None:
        """Where the ray through (u, v) meets the horizontal plane at height z; None above the horizon."""
        d = self.ray(u, v)
        if d[2] >= -1e-9:
            return None
        k = (z - self.height_m) / d[2]
        return float(self.s + k * d[0]), float(self.t + k * d[1])

    def plane_homography(self, origin: np.ndarray, axis_u: np.ndarray, axis_v: np.ndarray) -> np.ndarray:
        """Homography from a canvas (pixel (j, i) -> origin + j*axis_u + i*axis_v in metres) to the image."""
        rot = self.rotation()
        m = np.stack([axis_u, axis_v, np.asarray(origin, dtype=np.float64) - self.position], axis=1)
        return self.intrinsics() @ rot @ m

    def ray_directions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-pixel ray direction components (s, t, z), unnormalised (image-sized float32 arrays)."""
        rot = self.rotation().astype(np.float32)
        xs = (np.arange(self.width, dtype=np.float32) + 0.5 - self.cx) / self.fx
        ys = (np.arange(self.height, dtype=np.float32) + 0.5 - self.cy) / self.fx
        comps = []
        for k in range(3):
            comps.append(xs[None, :] * rot[0, k] + ys[:, None] * rot[1, k] + rot[2, k])
        return comps[0], comps[1], comps[2]

    def to_yaml_dict(self) -> dict:
        """The camera model as written to `camera.yaml` (everything needed to invert it)."""
        data = asdict(self)
        data.pop("s")
        data.pop("t")
        data["fx"] = round(self.fx, 6)
        data["fy"] = round(self.fx, 6)
        data["cx"] = self.cx
        data["cy"] = self.cy
        data["k1"] = 0.0
        data["conventions"] = (
            "pinhole, square pixels, principal point at image centre, no distortion; camera at the GPS "
            "position, height_m above the road; yaw_deg clockwise from vehicle heading (right positive); "
            "pitch_deg downward tilt (positive looks down); roll_deg about the optical axis"
        )
        return data
