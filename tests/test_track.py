"""Tracking: one track per roadside object from 2 to 30 fps; lost-track buffer in seconds; stable keys."""

from __future__ import annotations

import json

import pytest
from drive_scene import render_pass

from detector.events import event_key
from detector.pipeline_config import TrackerSettings
from detector.track import ObjectTracker
from detector.types import Detection

NATIVE_FPS = 30


@pytest.fixture(scope="module")
def drive_boxes(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[int, list[Detection]], dict[str, set[int]]]:
    """Ground-truth boxes of a 4 s drive-by at 30 fps, all given ONE class to make association harder."""
    pdir = render_pass(tmp_path_factory.mktemp("drive30") / "pass_00", fps=NATIVE_FPS, seconds=4.0)
    objects = json.loads((pdir / "ground_truth.json").read_text())["objects"]
    by_frame: dict[int, list[Detection]] = {}
    frames_of: dict[str, set[int]] = {}
    for obj in objects:
        frames_of[obj["id"]] = set(obj["frames"])
        for f, box in zip(obj["frames"], obj["boxes"], strict=True):
            by_frame.setdefault(f, []).append(Detection(*box, 0.8, 0, "thing"))
    return by_frame, frames_of


def _run(by_frame: dict[int, list[Detection]], fps: float, frames: list[int]) -> list:
    tracker = ObjectTracker(TrackerSettings(), fps)
    for f in frames:
        tracker.update(f, f / NATIVE_FPS, by_frame.get(f, []), 640, 360)
    return tracker.flush()


@pytest.mark.parametrize("fps", [2, 5, 10, 30])
def test_one_track_per_object_at_any_sampling_rate(drive_boxes, fps: int) -> None:
    by_frame, frames_of = drive_boxes
    frames = [round(k * NATIVE_FPS / fps) for k in range(int(4 * fps))]
    tracks = _run(by_frame, fps, frames)
    expected = sorted(len([f for f in frames if f in fr]) for fr in frames_of.values())
    assert sorted(t.hits for t in tracks) == expected  # every visible frame of every object, no split


def test_lost_track_buffer_is_in_seconds() -> None:
    """An object hidden for 0.8 s keeps its track at 2 and 30 fps; hidden for 2 s it gets a new one."""
    settings = TrackerSettings(lost_track_seconds=1.2)
    for fps in (2, 30):
        for gap_s, expected_tracks in ((0.8, 1), (2.0, 2)):
            tracker = ObjectTracker(settings, fps)
            n = int(round(5 * fps))
            for k in range(n):
                t = k / fps
                hidden = 1.0 <= t < 1.0 + gap_s
                dets = [] if hidden else [Detection(300, 200, 380, 260, 0.9, 1, "stall")]
                tracker.update(k, t, dets, 640, 360)
            assert len(tracker.flush()) == expected_tracks, (fps, gap_s)


def test_classes_are_tracked_separately_and_finished_tracks_are_handed_back() -> None:
    tracker = ObjectTracker(TrackerSettings(lost_track_seconds=0.5), 5)
    box = (100, 100, 200, 200)
    for k in range(6):
        dets = [Detection(*box, 0.9, 0, "out_of_store_vending"), Detection(*box, 0.8, 5, "vehicle")]
        pairs = tracker.update(k, k / 5, dets, 640, 360)
        # a track is confirmed on its second frame (and then gets its first frame back)
        assert len({id(t) for t, _ in pairs}) == (0 if k == 0 else 2)
    assert tracker.pop_finished() == []
    for k in range(6, 10):
        tracker.update(k, k / 5, [], 640, 360)
    finished = tracker.pop_finished()
    assert sorted(t.class_name for t in finished) == ["out_of_store_vending", "vehicle"]
    assert all(t.hits == 6 for t in finished)
    assert tracker.flush() == []


def test_event_keys_do_not_depend_on_the_global_track_counter(drive_boxes) -> None:
    """ByteTrack numbers tracks from a process-wide counter; keys must still repeat run after run."""
    by_frame, _ = drive_boxes
    frames = list(range(0, 120, 6))
    first = sorted(event_key("src", t) for t in _run(by_frame, 5, frames))
    second = sorted(event_key("src", t) for t in _run(by_frame, 5, frames))
    assert first == second and len(set(first)) == 3
