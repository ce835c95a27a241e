"""Events: per-class hits and median score; the best evidence frame by score, size and sharpness."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detector.events import (
    encode_evidence,
    event_key,
    evidence_quality,
    shadowing_track,
    sharpness,
    track_passes,
)
from detector.pipeline_config import ClassRule, EvidenceSettings, load_pipeline_config
from detector.track import Track, TrackObservation
from detector.types import Detection, Frame


def _track(
    scores: list[float], class_name: str = "overflowing_bin", box=(100, 100, 200, 200), dt: float = 0.2
) -> Track:
    track = Track(0, 3, class_name)
    for i, s in enumerate(scores):
        track.observations.append(TrackObservation(i, i * dt, Detection(*box, s, 3, class_name), 1280, 720))
    return track


def _textured(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, size=(360, 640, 3), dtype=np.uint8)
    return img


def test_hits_and_median_score_per_class_from_config() -> None:
    config = load_pipeline_config(
        overrides={"classes": {"overflowing_bin": {"min_hits": 4, "min_median_score": 0.5}}}
    )
    rule = config.rule_for("overflowing_bin")
    assert rule.min_track_seconds == config.default_rule.min_track_seconds  # inherited from default_rule
    ok, _ = track_passes(_track([0.6, 0.55, 0.7, 0.52]), rule)
    assert ok
    ok, reason = track_passes(_track([0.9, 0.9, 0.9]), ClassRule(min_hits=4, min_median_score=0.5))
    assert not ok and "3 frames" in reason
    ok, reason = track_passes(
        _track([0.9, 0.3, 0.3, 0.35, 0.9]), rule
    )  # median 0.35: two good frames are not enough
    assert not ok and "median score" in reason


def test_low_frame_rate_tracks_pass_by_time_span() -> None:
    rule = ClassRule(min_hits=3, min_track_seconds=0.8, min_median_score=0.4)
    assert track_passes(_track([0.8, 0.8], dt=0.5), rule)[0] is False  # 0.5 s: too short
    assert track_passes(_track([0.8, 0.8], dt=1.0), rule)[0] is True  # 2 fps, 1 s apart


def test_densely_sampled_streams_need_more_and_stronger_frames() -> None:
    config = load_pipeline_config()  # bin: 3 hits, median 0.45; dense sampling from 8 fps: +2 hits, +0.05
    weak = _track([0.47, 0.48, 0.47, 0.49, 0.46], dt=0.1)  # 5 frames at 10 fps, median 0.47
    short = _track([0.8, 0.8, 0.8, 0.8], dt=0.1)  # 4 strong frames at 10 fps
    at_5fps = config.rule_for("overflowing_bin", fps=5)
    assert track_passes(weak, at_5fps)[0] and track_passes(short, at_5fps)[0]
    at_10fps = config.rule_for("overflowing_bin", fps=10)
    ok, reason = track_passes(weak, at_10fps)
    assert not ok and "median score 0.47 < 0.5" in reason
    ok, reason = track_passes(short, at_10fps)
    assert not ok and "4 frames < 5" in reason
    assert track_passes(_track([0.8, 0.7, 0.6, 0.5, 0.5], dt=0.1), at_10fps)[0]
    # the rule of a rate is the class's rule, tightened: nothing else of the class changes
    assert at_10fps.min_area_m2 == config.rule_for("overflowing_bin").min_area_m2
    # and a city can switch it off
    plain = load_pipeline_config(overrides={"dense_sampling": None})
    assert plain.rule_for("overflowing_bin", fps=10) == plain.rule_for("overflowing_bin")


def test_a_bad_dense_sampling_setting_names_its_field() -> None:
    from detector.errors import ConfigError

    with pytest.raises(ConfigError, match="dense_sampling.extra_hits"):
        load_pipeline_config(overrides={"dense_sampling": {"extra_hits": -1}})


def test_minimum_visible_area() -> None:
    rule = ClassRule(min_hits=1, min_median_score=0.1, min_box_area_frac=0.01)
    small = _track([0.9, 0.9], box=(0, 0, 50, 50))  # 2500 / 921600 = 0.0027 of the frame
    large = _track([0.9, 0.9], box=(0, 0, 120, 120))  # 0.0156
    assert not track_passes(small, rule)[0]
    assert track_passes(large, rule)[0]


def test_sharpness_is_the_variance_of_the_crops_laplacian() -> None:
    img = _textured()
    det = Detection(200, 100, 360, 260, 0.8, 3, "overflowing_bin")
    grey = cv2.cvtColor(img[100:260, 200:360], cv2.COLOR_BGR2GRAY)
    assert sharpness(img, det) == pytest.approx(float(cv2.Laplacian(grey, cv2.CV_64F).var()), rel=1e-9)


def test_sharper_larger_higher_scoring_frame_wins() -> None:
    img = _textured()
    blurred = cv2.GaussianBlur(img, (15, 15), 5)
    det = Detection(200, 100, 360, 260, 0.8, 3, "overflowing_bin")
    assert sharpness(img, det) > 10 * sharpness(blurred, det)
    assert evidence_quality(img, det) > evidence_quality(blurred, det)
    bigger = Detection(150, 60, 410, 300, 0.8, 3, "overflowing_bin")
    assert evidence_quality(img, bigger) > evidence_quality(img, det)
    lower = Detection(200, 100, 360, 260, 0.4, 3, "overflowing_bin")
    assert evidence_quality(img, det) > evidence_quality(img, lower)
    cut = Detection(480, 100, 640, 260, 0.8, 3, "overflowing_bin")  # touches the right edge
    assert evidence_quality(img, cut) < evidence_quality(img, det)
    # the track keeps the best one it was offered
    track = _track([0.8])
    obs = track.observations[0]
    sharp_frame, blurred_frame = (Frame(i, 0, 0.0, "test") for i in (img, blurred))
    assert track.offer_evidence(evidence_quality(blurred, det), blurred_frame, obs)
    assert track.offer_evidence(evidence_quality(img, det), sharp_frame, obs)
    assert not track.offer_evidence(evidence_quality(blurred, det), blurred_frame, obs)
    assert track.best_frame is sharp_frame


def test_the_quality_to_beat_changes_no_choice_of_evidence() -> None:
    """A frame that cannot win on score and size is not measured for sharpness; any other gets its
    full quality, so the best frame chosen is the same as without the shortcut."""
    img = _textured()
    blurred = cv2.GaussianBlur(img, (15, 15), 5)
    det = Detection(200, 100, 360, 260, 0.8, 3, "overflowing_bin")
    small = Detection(200, 100, 260, 160, 0.5, 3, "overflowing_bin")
    best = evidence_quality(img, det)
    assert evidence_quality(img, small, to_beat=best) <= best  # cannot win: not measured, not chosen
    assert evidence_quality(blurred, det, to_beat=0.01) == evidence_quality(blurred, det)
    assert evidence_quality(img, det, to_beat=best / 2) == best


def test_evidence_jpegs_frame_with_box_and_raw_crop() -> None:
    img = np.full((720, 1280, 3), 128, np.uint8)
    det = Detection(400, 300, 560, 420, 0.8, 3, "overflowing_bin")
    frame_jpeg, crop_jpeg = encode_evidence(img, det, EvidenceSettings(crop_margin=0.0))
    frame = cv2.imdecode(np.frombuffer(frame_jpeg, np.uint8), cv2.IMREAD_COLOR)
    crop = cv2.imdecode(np.frombuffer(crop_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert frame.shape == (720, 1280, 3) and crop.shape == (120, 160, 3)
    assert np.abs(frame.astype(int) - 128).max() > 60  # the box is drawn on the frame...
    assert np.abs(crop.astype(int) - 128).max() < 10  # ...but not on the raw crop
    small, _ = encode_evidence(img, det, EvidenceSettings(max_long_side=640))
    assert cv2.imdecode(np.frombuffer(small, np.uint8), cv2.IMREAD_COLOR).shape == (360, 640, 3)


def test_event_key_names_source_first_frame_and_class() -> None:
    key = event_key("sha1-abc", _track([0.9, 0.9]))
    assert key.startswith("sha1-abc:f0:overflowing_bin:")
    assert key == event_key("sha1-abc", _track([0.5, 0.7]))
    assert key != event_key("sha1-abd", _track([0.9, 0.9]))


@pytest.mark.parametrize(
    "bad", [{"classes": {"vehicle": {"min_hits": 0}}}, {"sample_fps": -1}, {"nonsense": 1}]
)
def test_bad_config_is_a_config_error(bad) -> None:
    from detector.errors import ConfigError

    with pytest.raises(ConfigError):
        load_pipeline_config(overrides=bad)


def test_minimum_ground_area_for_flat_objects() -> None:
    rule = ClassRule(min_hits=1, min_median_score=0.1, min_area_m2=1.0)
    track = _track([0.9, 0.9], class_name="exposed_soil")
    assert not track_passes(track, rule)[0]  # no area measured: not enough
    track.observations[1].area_m2 = 0.6
    assert "m²" in track_passes(track, rule)[1]
    track.observations[0].area_m2 = 1.4
    assert track_passes(track, rule)[0]


def _flicker(class_id: int, name: str, frames: list[int], score: float, box=(100, 100, 200, 200)) -> Track:
    track = Track(class_id, class_id, name)
    for i in frames:
        det = Detection(*box, score, class_id, name)
        track.observations.append(TrackObservation(i, i * 0.2, det, 1280, 720))
    return track


def test_one_object_called_two_things_becomes_one_event_of_the_stronger_class() -> None:
    """The detector called a stall 'exposed_garbage' in some frames: two per-class tracks on one object.
    The weaker reading is the class confusion; the stronger one stands."""
    vending = _flicker(0, "out_of_store_vending", [0, 1, 3, 4, 6, 7, 8, 9], 0.7)
    garbage = _flicker(4, "exposed_garbage", [2, 5, 8], 0.5)  # the frames in between, and one shared frame
    assert shadowing_track(garbage, [vending], max_dt=0.3) is vending
    assert shadowing_track(vending, [garbage], max_dt=0.3) is None  # the stronger reading is kept
    # another object beside it (no overlap), the same class, or no shared time: no confusion
    beside = _flicker(4, "exposed_garbage", [2, 5, 8], 0.5, box=(300, 100, 400, 200))
    assert shadowing_track(beside, [vending], max_dt=0.3) is None
    same_class = _flicker(0, "out_of_store_vending", [2, 5], 0.5)
    assert shadowing_track(same_class, [vending], max_dt=0.3) is None
    later = _flicker(4, "exposed_garbage", [40, 41, 42], 0.5)
    assert shadowing_track(later, [vending], max_dt=0.3) is None


def test_class_confusion_can_be_switched_off_in_config() -> None:
    assert load_pipeline_config().class_confusion_iou == 0.5
    assert load_pipeline_config(overrides={"class_confusion_iou": None}).class_confusion_iou is None
