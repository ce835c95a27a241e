"""`streetwatch bench live-path` replays the load's frames through the service's live path on one thread."""

from __future__ import annotations

import pytest

from streetwatch.bench.live_path import run_live_path_benchmark


def test_the_live_path_benchmark_times_both_halves_of_a_frame(bundled_model_path) -> None:
    done = []
    report = run_live_path_benchmark(
        rounds=2, frames_per_vehicle=3, vehicles=2, loop_frames=8, progress=done.append
    )
    assert report["frames_per_round"] == 6 and len(report["cpu_ms_per_frame_by_round"]) == 2
    assert sum(done) == 3 * 6  # the warm-up round and the two timed ones, frame by frame
    cpu = report["cpu_ms_per_frame"]
    assert cpu["lookup_and_decode"] > 0 and cpu["after_detection"] > 0
    by_round = report["cpu_ms_per_frame_by_round"]
    assert min(by_round) <= cpu["total"] <= max(by_round)
    assert cpu["total"] == pytest.approx(cpu["lookup_and_decode"] + cpu["after_detection"], rel=0.5)
    assert report["jpeg_bytes_mean"] > 10_000  # real 720p street JPEGs, not blanks
