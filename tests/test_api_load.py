"""The load script runs end to end (small here; the 8 x 5 fps x 60 s run is `streetwatch bench load`)."""

from __future__ import annotations

import pytest

from streetwatch.bench.load import run_load_test


@pytest.mark.slow  # a service process, two detector measurements and the drain: ~30 s on 2 busy cores
@pytest.mark.parametrize("transport", ["image", "form", "ws"])
def test_load_script_accounts_for_every_frame(service_model, transport):
    report = run_load_test(
        vehicles=2,
        fps=2,
        seconds=3,
        width=320,
        height=240,
        model=service_model,
        standalone_seconds=1,
        drain_seconds=5,
        transport=transport,
    )
    assert report["frames_sent"] == 12
    assert report["frames_lost"] == 0
    accounted = (
        report["frames_processed"]
        + report["frames_refused_at_end"]
        + report["frames_held_by_vehicles_at_end"]
    )
    assert accounted == report["frames_sent"]
    assert report["frames_processed"] > 0
    assert report["served_fps"] > 0 and report["detector_in_service"]["frames"] >= report["frames_processed"]
    assert report["latency_ms_accepted_request"]["p50"] is not None
    cpu = report["cpu_seconds"]
    assert cpu["service"] > 0 and cpu["load_client"] > 0  # where the shared cores went
    assert cpu["detector_standalone_per_frame_ms"] > 0
    per_frame = cpu["service_per_processed_frame_ms"]
    assert cpu["beyond_detector_per_frame_ms"] == pytest.approx(
        per_frame - cpu["detector_standalone_per_frame_ms"], abs=0.02
    )
    assert len(report["detector_standalone"]["fps_by_config"]) >= 2  # spinning on and off at least
