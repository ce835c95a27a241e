"""One configuration for the path frames → tracks → events → rules → cases, loaded from YAML.

The defaults live in `detector/pipeline_defaults.yaml`; a city passes its own file (same shape,
any subset of fields) with `--config`. Every field has a description, so
`PipelineConfig.model_json_schema()` documents the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from detector.errors import ConfigError
from detector.geo import CameraMount
from detector.yaml_io import read_yaml_mapping

DEFAULT_PIPELINE_CONFIG = Path(__file__).with_name("pipeline_defaults.yaml")


class DetectorSettings(BaseModel):
    conf: float = Field(default=0.25, ge=0, le=1, description="Minimum detection score kept from the model.")
    iou: float = Field(default=0.5, ge=0, le=1, description="IoU threshold of non-maximum suppression.")
    threads: int = Field(default=2, ge=1, description="ONNX Runtime intra-op threads.")
    batch: int = Field(default=4, ge=1, description="Frames per inference batch in batch processing.")
    spin: bool | None = Field(
        default=False,
        description="onnxruntime's idle threads busy-wait for work: faster alone on a machine, wasteful "
        "where processes share the cores (batch processing, CI). None = onnxruntime's default (on).",
    )
    imgsz: int | list[int] | Literal["auto"] | None = Field(
        default="auto",
        description="Input for models exported with a dynamic input size: a side (square), (height, "
        "width), or 'auto': a "
        "16:9 rectangle at the model's own scale (a 640 model runs 384x640, a 320 model 192x320): a "
        "patrol frame letterboxed without the grey bands a square input wastes time on. Models with a "
        "fixed input size use their own; null = the model's square metadata size.",
    )


class TrackerSettings(BaseModel):
    """ByteTrack (trackers 2.1.0) settings; times are in seconds so they hold from 2 to 30 fps."""

    lost_track_seconds: float = Field(
        default=1.2, gt=0, description="How long a track survives without a matching detection, seconds."
    )
    track_activation_threshold: float = Field(
        default=0.3, ge=0, le=1, description="Score a detection needs to start a new track."
    )
    high_conf_threshold: float = Field(
        default=0.45,
        ge=0,
        le=1,
        description="Score splitting ByteTrack's first (high) and second (low) association.",
    )
    min_iou: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Minimum IoU between a track's predicted box and a detection to associate them. "
        "Low, because at 2-5 fps a roadside object moves far between frames of a moving vehicle.",
    )

    box_buffer_at_5fps: float = Field(
        default=0.3,
        ge=0,
        description="Buffered IoU: each box side grows by this fraction of the box size before association "
        "at 5 fps, scaled by 5/fps (more at 2 fps, less at 30 fps).",
    )
    max_box_buffer: float = Field(default=1.0, ge=0, description="Upper bound of the box growth fraction.")


class ClassRule(BaseModel):
    """What a track of one class needs to become an event, and what it becomes."""

    min_hits: int = Field(
        default=3,
        ge=1,
        description="Frames the track must be seen in (at about 5 fps; dense_sampling adds to it at "
        "higher rates).",
    )
    min_track_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Alternative to min_hits at low frame rates: a track seen in at least 2 frames "
        "spanning this "
        "many seconds also qualifies (0 = off).",
    )
    min_median_score: float = Field(
        default=0.4, ge=0, le=1, description="Median detection score over the track."
    )
    min_box_area_frac: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Minimum visible size: the largest box of the track as a fraction of the frame area.",
    )
    min_area_m2: float = Field(
        default=0.0,
        ge=0,
        description="Minimum visible ground area for things lying on the ground (exposed soil): the largest "
        "ground footprint of the track's boxes under the camera mount, square metres (0 = off).",
    )
    depth_m: float = Field(
        default=0.0,
        ge=0,
        description="Typical depth of the object along the line of sight, metres: the position is moved "
        "half of it behind the box's bottom edge (the near side) towards the object's centre.",
    )
    flat_on_ground: bool = Field(
        default=False,
        description="The object lies flat on the ground (bare soil): its position is the middle of the "
        "ground footprint between the box's bottom and top edges.",
    )
    becomes: str | None = Field(
        default=None,
        description="Class the event is filed under (e.g. vehicle -> illegal_parking); None = itself.",
    )
    requires_zone: str | None = Field(
        default=None, description="Zone layer the object must stand in (e.g. no_parking); None = anywhere."
    )
    zone_buffer_m: float = Field(
        default=2.0, ge=0, description="Tolerance around the required zone for geolocation error, metres."
    )
    min_stationary_seconds: float = Field(
        default=0.0,
        ge=0,
        description="The object must stay put this long: within one track, or since an earlier "
        "sighting at the "
        "same place (0 = no dwell rule).",
    )
    repeat_pass_counts: bool = Field(
        default=True,
        description="A sighting at the same place on an earlier pass (another video or stream) satisfies the "
        "dwell rule even when the time between passes is shorter.",
    )
    min_pass_gap_seconds: float = Field(
        default=30.0,
        ge=0,
        description="An earlier pass counts only if it was at least this long before (two vehicles driving "
        "past together are one pass).",
    )
    same_place_radius_m: float = Field(
        default=8.0, gt=0, description="Two sightings within this distance count as the same place, metres."
    )
    stationary_max_spread_m: float = Field(
        default=4.0,
        gt=0,
        description="Within one track, ground positions spread less than this = not moving.",
    )
    stationary_spread_quantile: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="The spread is this quantile of the positions' distances from their median (1.0: the "
        "farthest; 0.8 lets a few frames with a cut-off box or a brief identity swap pass).",
    )
    enabled: bool = Field(default=True, description="False: tracks of this class never become events.")


class EvidenceSettings(BaseModel):
    jpeg_quality: int = Field(default=85, ge=30, le=100, description="JPEG quality of evidence images.")
    crop_margin: float = Field(
        default=0.1, ge=0, le=1, description="Extra margin around the raw crop, box fraction."
    )
    max_long_side: int = Field(
        default=1280, ge=160, description="Evidence frames are downscaled to this long side."
    )


class DenseSampling(BaseModel):
    """Stricter track evidence when frames come densely.

    At 10 frames/s a roadside object is in twice as many frames as at 5: a weak detection reaches
    `min_hits` by chance more often, and the median of more scores is steadier, so it can be asked to be
    higher. The class rules are written for about 5 frames/s; a stream sampled at `min_fps` or more
    needs `extra_hits` more frames and an `extra_median_score` higher median. Chosen on validation
    drive-bys (docs/pipeline.md)."""

    min_fps: float = Field(
        default=8.0, gt=0, description="Sampling rate (frames/s) from which the stricter evidence applies."
    )
    extra_hits: int = Field(default=2, ge=0, description="Frames added to every class's min_hits.")
    extra_median_score: float = Field(
        default=0.05, ge=0, le=1, description="Added to every class's min_median_score (capped at 1)."
    )

    def applies_at(self, fps: float | None) -> bool:
        return fps is not None and fps >= self.min_fps

    def tighten(self, rule: ClassRule) -> ClassRule:
        return rule.model_copy(
            update={
                "min_hits": rule.min_hits + self.extra_hits,
                "min_median_score": min(1.0, round(rule.min_median_score + self.extra_median_score, 4)),
            }
        )


class HorizonBand(BaseModel):
    """A second model pass on the band of the frame around the horizon, where far objects are small
    (detector.horizon_band). Recorded footage only: the live service does not run it."""

    top: float = Field(
        default=0.28, ge=0, lt=1, description="The band's top edge, as a fraction of the frame height."
    )
    bottom: float = Field(
        default=0.58, gt=0, le=1, description="The band's bottom edge, as a fraction of the frame height."
    )
    imgsz: tuple[int, int] = Field(
        default=(160, 896),
        description="Model input (h, w) for the band, multiples of 32: 160x896 shows a 1280x216 band of "
        "a 720p frame at 0.7 of its size (the whole frame runs at 0.4).",
    )

    @model_validator(mode="after")
    def _a_real_band(self) -> HorizonBand:
        if self.bottom <= self.top:
            raise ValueError(f"bottom ({self.bottom}) must be below top ({self.top})")
        if any(v <= 0 or v % 32 for v in self.imgsz):
            raise ValueError(f"imgsz {self.imgsz}: both sides must be positive multiples of 32")
        return self


class VerifierSettings(BaseModel):
    """A second look at each track's best frame, in full resolution, by a crop classifier
    (detector.verifier): a track whose class it does not back is not filed."""

    model: str | None = Field(
        default=None,
        description="Verifier ONNX file (None = env STREETWATCH_VERIFIER, a file or 'none', else the bundled "
        "models/streetwatch-verifier.onnx; no verifier when neither is there).",
    )
    min_prob: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="The probability the verifier must give the track's own class for it to be filed.",
    )
    classes: list[str] | None = Field(
        default=None,
        description="Classes checked (None = every class). Context classes that only rules turn into "
        "cases (vehicle) can be left to their rules.",
    )

    model_config = {"extra": "forbid"}

    def checks(self, class_name: str) -> bool:
        return self.classes is None or class_name in self.classes


class CaseMerging(BaseModel):
    """How events become cases: one case per violation, across frames, passes and vehicles."""

    merge_distance_m: float = Field(
        default=15.0,
        gt=0,
        description="An event joins the nearest open case of its matter code within this distance (metres) "
        "instead of opening a new one.",
    )
    merge_distance_by_class: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict,
        description="Per class the case is filed under (after rules, e.g. illegal_parking): a distance other "
        "than merge_distance_m, metres. Two cars parked 10 m apart are two violations; three bins of one "
        "garbage station are one.",
    )

    model_config = {"extra": "forbid"}

    def distance_for(self, class_name: str) -> float:
        """The merge distance for an event filed as `class_name`."""
        return self.merge_distance_by_class.get(class_name, self.merge_distance_m)


class PipelineConfig(BaseModel):
    detector: DetectorSettings = Field(default_factory=DetectorSettings, description="Model inference.")
    sample_fps: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="Frames per second taken from recorded video (a slower recording keeps its own rate).",
    )
    tracker: TrackerSettings = Field(default_factory=TrackerSettings, description="Multi-object tracker.")
    horizon_band: HorizonBand | None = Field(
        default=None,
        description="Recorded footage: run the model a second time on the horizon band, where far objects "
        "are (None = whole frames only, the default). Doubles the model's work per frame; the live "
        "service never runs it.",
    )
    dense_sampling: DenseSampling | None = Field(
        default_factory=DenseSampling,
        description="Stricter hits and median score for streams sampled at a high rate (None = the class "
        "rules at every rate).",
    )
    default_rule: ClassRule = Field(
        default_factory=ClassRule, description="Rule for classes not listed below."
    )
    classes: dict[str, ClassRule] = Field(default_factory=dict, description="Per-class rules by class name.")
    camera: CameraMount = Field(default_factory=CameraMount, description="Default camera mount.")
    zones_dir: str | None = Field(
        default=None, description="Folder of GeoJSON zone layers (None = no zones)."
    )
    max_segment_distance_m: float = Field(
        default=30.0, gt=0, description="An event farther than this from every road segment gets no segment."
    )
    far_tracks_at_vehicle: bool = Field(
        default=False,
        description="A track whose box never reached the ground within the camera's max_range_m although "
        "the geometry was known (heading present) is far away: False = no event (it is placed when a pass "
        "comes closer); True = place it at the vehicle's position. Frames without heading always fall back "
        "to the vehicle position.",
    )
    person_veto: float | None = Field(
        default=0.6,
        gt=0,
        le=1,
        description="A violation detection with at least this share of its box inside a person box (not "
        "much smaller than it) is a person, not a violation, and is dropped before tracking "
        "(detector.context). Needs a model with a `person` class. None = off.",
    )
    class_confusion_iou: float | None = Field(
        default=0.5,
        gt=0,
        le=1,
        description="A track is dropped as a class confusion when a track of another class covers the same "
        "object (box IoU at least this, within 1.5 sampled frames, in at least half of its frames) and saw "
        "it more strongly (larger sum of scores): the detector called one object two things, and only the "
        "stronger reading becomes a case. None = keep both.",
    )
    verifier: VerifierSettings | None = Field(
        default_factory=VerifierSettings,
        description="Crop verifier on each track's best frame before it becomes an event (None = off).",
    )
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings, description="Evidence images.")
    cases: CaseMerging = Field(default_factory=CaseMerging, description="When events join a case.")
    taxonomy: str | None = Field(default=None, description="Taxonomy file (None = the bundled one).")

    model_config = {"extra": "forbid"}

    @model_validator(mode="before")
    @classmethod
    def _classes_inherit_default_rule(cls, data: Any) -> Any:
        """A class entry only lists what differs from `default_rule`."""
        if isinstance(data, dict) and isinstance(data.get("classes"), dict):
            base = data.get("default_rule") or {}
            if isinstance(base, BaseModel):
                base = base.model_dump()
            merged = {}
            for name, rule in data["classes"].items():
                if isinstance(rule, dict) and isinstance(base, dict):
                    merged[name] = {**base, **rule}
                else:
                    merged[name] = rule
            data = {**data, "classes": merged}
        return data

    def rule_for(self, class_name: str, fps: float | None = None) -> ClassRule:
        """The class's rule; for a stream sampled at `fps`, tightened by `dense_sampling` where it applies."""
        rule = self.classes.get(class_name, self.default_rule)
        dense = self.dense_sampling
        return dense.tighten(rule) if dense is not None and dense.applies_at(fps) else rule


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _read_yaml(file: Path) -> dict[str, Any]:
    if not file.is_file():
        raise ConfigError("configuration file not found", file)
    return read_yaml_mapping(file)


def load_pipeline_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> PipelineConfig:
    """Defaults, then the city's file on top (deep merge), then explicit overrides (CLI flags)."""
    data = _read_yaml(DEFAULT_PIPELINE_CONFIG)
    source: Path = DEFAULT_PIPELINE_CONFIG
    if path is not None:
        source = Path(path)
        data = _deep_merge(data, _read_yaml(source))
    if overrides:
        data = _deep_merge(data, overrides)
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"field {field}: {err['msg']}", source) from exc
