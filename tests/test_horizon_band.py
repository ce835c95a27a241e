"""The horizon band: a second model pass on the rows where far objects are, merged into the frame's."""

from __future__ import annotations

import logging

import pytest

from detector.errors import ConfigError
from detector.horizon_band import BandedDetector, band_rows, merge_band_detections, with_horizon_band
from detector.model import open_detector
from detector.pipeline_config import load_pipeline_config
from detector.types import Detection


def _det(x1, y1, x2, y2, score=0.6, class_id=3, name="overflowing_bin") -> Detection:
    return Detection(x1, y1, x2, y2, score, class_id, name)


def test_band_boxes_come_back_in_frame_rows_and_only_when_new() -> None:
    full = [_det(100, 250, 140, 300, 0.5), _det(600, 400, 700, 500, 0.9, 2, "exposed_soil")]
    band = [
        _det(102, 52, 141, 100, 0.7),  # the full frame's bin, seen better: replaces it
        _det(600, 200, 700, 214, 0.8, 2, "exposed_soil"),  # touches the band's bottom edge: cut, dropped
        _det(900, 0, 930, 40, 0.8),  # touches its top edge: dropped
        _det(500, 60, 520, 90, 0.55, 0, "out_of_store_vending"),  # far and new: added
        _det(103, 55, 139, 98, 0.4),  # the bin again, weaker: dropped
    ]
    merged = merge_band_detections(full, band, y0=200, band_height=216)
    assert merged == [
        _det(102, 252, 141, 300, 0.7),
        full[1],
        _det(500, 260, 520, 290, 0.55, 0, "out_of_store_vending"),
    ]
    assert band_rows(720, 0.28, 0.58) == (202, 216)


def test_the_band_pass_finds_far_objects_in_its_rows(bundled_model_path) -> None:
    from streetwatch.bench.load import drive_by_frames

    config = load_pipeline_config(overrides={"horizon_band": {}})  # on, at its default rows and size
    full = open_detector(bundled_model_path, "auto", threads=2)
    assert with_horizon_band(full, load_pipeline_config()) is full  # off by default
    banded = with_horizon_band(full, config)
    assert isinstance(banded, BandedDetector) and banded.path == full.path
    assert banded.imgsz == "(288, 512)+band(160, 896)@0.28-0.58"  # the detections cache tells them apart
    frames = drive_by_frames(12, 1280, 720)
    plain, both = full.detect_batch(frames), banded.detect_batch(frames)
    y0, height = band_rows(720, 0.28, 0.58)
    added = 0
    for mine, theirs in zip(plain, both, strict=True):
        new = [d for d in theirs if d not in mine]
        # every box of the band is inside its rows, clear of its edges
        assert all(d.y1 > y0 and d.y2 < y0 + height for d in new)
        # a whole-frame box is kept unless a better band box of its class replaced it
        assert len([d for d in mine if d in theirs]) + len(new) >= len(mine)
        added += len(new)
    assert added > 0  # on a street of stalls and bins the band sees something the whole frame did not


def test_a_fixed_size_model_runs_without_the_band(static_batch_onnx, caplog) -> None:
    detector = open_detector(static_batch_onnx, "auto")
    with caplog.at_level(logging.WARNING):
        assert with_horizon_band(detector, load_pipeline_config(overrides={"horizon_band": {}})) is detector
    assert "fixed input size" in caplog.text


@pytest.mark.parametrize(
    "band", [{"top": 0.6, "bottom": 0.5}, {"imgsz": [150, 896]}], ids=["upside-down", "not-stride-32"]
)
def test_a_bad_band_names_its_field(band) -> None:
    with pytest.raises(ConfigError, match="horizon_band"):
        load_pipeline_config(overrides={"horizon_band": band})
