"""Lighting and weather of one frame (or one drive-by pass): the domain-randomisation parameters."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Look:
    sun_az: float  # radians in the street frame (0 = +s, pi/2 = +t)
    sun_elev: float  # radians above the horizon
    sunny: bool
    ambient: float
    diffuse: float
    shadow_strength: float
    sky_horizon: tuple[float, float, float]
    sky_zenith: tuple[float, float, float]
    cloudiness: float
    exposure: float
    gamma: float
    white_balance: tuple[float, float, float]
    haze: float  # 0: clear; visibility-like density
    haze_color: tuple[float, float, float]
    rain: float  # 0..1
    dusk: float  # 0..1, darker with lit signs
    saturation: float
    night: float = 0.0  # 1: street at night (dim surfaces, lit signs, windows, lamps and shop interiors)

    @property
    def sun_vector(self) -> np.ndarray:
        """Unit vector pointing TO the sun in street coordinates."""
        return np.array(
            [
                math.cos(self.sun_elev) * math.cos(self.sun_az),
                math.cos(self.sun_elev) * math.sin(self.sun_az),
                math.sin(self.sun_elev),
            ]
        )


def random_look(rng: np.random.Generator, hour: float | None = None, night_share: float = 0.1) -> Look:
    """Time of day, sun, sky, haze and rain. `hour` (local, 0..24) pins the time of day (clip passes);
    without it, `night_share` of the looks are night scenes."""
    if hour is None:
        look = random_look(rng, float(rng.uniform(6.5, 19.5)))
        if rng.random() < night_share:
            return _night(look, rng)
        return look
    if hour < 6.0 or hour > 19.6:
        return _night(random_look(rng, 12.0), rng)
    day = math.sin(math.pi * (hour - 6.0) / 13.0)  # 0 at 6:00 and 19:00, 1 at 12:30
    rain = float(rng.uniform(0.3, 1.0)) if rng.random() < 0.13 else 0.0
    sunny = bool(rng.random() < 0.6 and rain == 0.0 and day > 0.15)
    dusk = max(0.0, 1.0 - day / 0.35) if day < 0.35 else 0.0
    elev = math.radians(max(5.0, 70.0 * day + rng.normal(0, 5)))
    haze = float(rng.uniform(0.004, 0.02)) if rng.random() < 0.3 else float(rng.uniform(0.0, 0.003))
    if rain:
        haze = max(haze, 0.01)
    overcast_sky = np.array([205, 200, 195]) * rng.uniform(0.8, 1.1)
    blue_h = np.array([235, 215, 190]) * rng.uniform(0.85, 1.05)
    blue_z = np.array([215, 160, 110]) * rng.uniform(0.8, 1.1)
    if dusk > 0:
        blue_h = blue_h * (1 - dusk) + np.array([120, 150, 210]) * dusk
        blue_z = blue_z * (1 - dusk) + np.array([110, 80, 70]) * dusk
    horizon = blue_h if sunny else overcast_sky
    zenith = blue_z if sunny else overcast_sky * 0.92
    warm = rng.normal(0, 0.05) + (0.08 * dusk)
    return Look(
        sun_az=float(rng.uniform(-math.pi, math.pi)),
        sun_elev=elev,
        sunny=sunny,
        ambient=float(rng.uniform(0.55, 0.7) if sunny else rng.uniform(0.8, 0.95)),
        diffuse=float(rng.uniform(0.35, 0.55) if sunny else rng.uniform(0.08, 0.2)),
        shadow_strength=float(rng.uniform(0.3, 0.55) if sunny else 0.0),
        sky_horizon=tuple(float(v) for v in np.clip(horizon, 0, 255)),
        sky_zenith=tuple(float(v) for v in np.clip(zenith, 0, 255)),
        cloudiness=float(rng.uniform(0.0, 0.6)),
        exposure=float(rng.uniform(0.8, 1.15) * (1.0 - 0.45 * dusk) * (0.85 if rain else 1.0)),
        gamma=float(rng.uniform(0.85, 1.15)),
        white_balance=(
            1.0 - warm + rng.normal(0, 0.02),
            1.0 + rng.normal(0, 0.02),
            1.0 + warm + rng.normal(0, 0.02),
        ),
        haze=haze,
        haze_color=tuple(float(v) for v in np.array([200, 198, 195]) * rng.uniform(0.85, 1.05)),
        rain=rain,
        dusk=dusk,
        saturation=float(rng.uniform(0.75, 1.15) * (0.8 if rain else 1.0)),
    )


def _night(look: Look, rng: np.random.Generator) -> Look:
    """Turn a look into night: no sun, dark sky, surfaces dimmed; emissive parts stay bright."""
    look.sunny = False
    look.shadow_strength = 0.0
    look.ambient = float(rng.uniform(0.3, 0.42))
    look.diffuse = 0.05
    look.sky_horizon = tuple(float(v) for v in np.array([62, 52, 48]) * rng.uniform(0.7, 1.3))
    look.sky_zenith = tuple(float(v) for v in np.array([28, 20, 14]) * rng.uniform(0.7, 1.3))
    look.cloudiness = float(rng.uniform(0.0, 0.2))
    look.exposure = float(rng.uniform(1.0, 1.3))
    look.haze_color = tuple(float(v) for v in np.array([70, 70, 78]) * rng.uniform(0.8, 1.2))
    look.dusk = 0.0
    look.night = 1.0
    look.saturation = float(rng.uniform(0.8, 1.05))
    return look
