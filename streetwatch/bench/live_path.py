"""`streetwatch bench live-path`: the CPU a live frame costs beyond the model, on one thread.

The load test (streetwatch.bench.load) measures the whole service on loopback; its ratio moves by ±0.05 from
run to run on these shared machines, more than one change to the serving path is worth. This replays
the load's own frames (the drive-by of streetwatch.bench.load: 8 vehicles, each 7 frames further along,
looping) through the service's own live path (`LiveService`, the SQLite case store, the live pipeline
with the crop verifier) with no HTTP server, no other thread and no model in the loop (each frame's
detections are computed once, up front), and reports the process CPU per frame of its two halves:
- `lookup_and_decode`: the idempotency look-up of (vehicle, frame) and the reduced JPEG decode;
- `after_detection`: tracking, events, rules and the case store, then storing the frame's answer.
Rounds are timed separately and the medians reported, so a noisy moment shows as one odd round.
Under load each piece costs more than here (shared caches, the GIL); this is the part a change to
the code controls.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

VEHICLE_SPACING = 7  # frames between one vehicle's start and the next one's (as streetwatch.bench.load)


def run_live_path_benchmark(
    rounds: int = 5,
    frames_per_vehicle: int = 20,
    vehicles: int = 8,
    loop_frames: int = 60,
    model: Path | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Replay `rounds` x `vehicles` x `frames_per_vehicle` frames through the live path; CPU per frame.

    `progress`: called with the number of frames done after each frame (a progress bar's update)."""
    from serve.api.app import build_state, shutdown_state
    from serve.api.limits import decode_image, parse_metadata
    from serve.settings import Settings
    from streetwatch.bench.load import drive_by_frames, encode_jpegs, frame_metadata

    jpegs = encode_jpegs(drive_by_frames(loop_frames, 1280, 720))
    with tempfile.TemporaryDirectory(prefix="sw-live-path-") as tmp:
        overrides: dict[str, Any] = {"data_dir": Path(tmp), "job_workers": 0, "bootstrap": False}
        if model is not None:
            overrides["model_path"] = model
        settings = Settings(**overrides)
        state = build_state(settings)
        try:
            live, limits = state.live, settings.limits
            if live is None:
                raise RuntimeError(f"model not loaded: {state.model_error}")
            detections = []
            for jpeg in jpegs:
                decoded = decode_image(jpeg, None, limits, live.input_shape)
                found = state.detector.detect_batch([decoded.pixels])[0]
                detections.append([d.scaled(decoded.scale) for d in found])

            def replay(first_frame: int, count: int) -> tuple[float, float, int]:
                """(CPU seconds of the look-up and decode, CPU seconds after detection, cases touched)."""
                before = after = 0.0
                cases = 0
                for k in range(count):
                    for v in range(vehicles):
                        index = (v * VEHICLE_SPACING + first_frame + k) % loop_frames
                        meta = parse_metadata(frame_metadata(f"bench-{v}", first_frame + k), limits)
                        jpeg = jpegs[index]
                        t0 = time.process_time()
                        stored, decoded = live.known_or_decode(
                            (meta.vehicle_id, meta.frame_id),
                            lambda jpeg=jpeg: decode_image(jpeg, None, limits, live.input_shape),
                        )
                        t1 = time.process_time()
                        answer = live.after_detection(decoded, meta, detections[index])
                        t2 = time.process_time()
                        if stored is not None or answer.get("duplicate"):
                            raise RuntimeError(f"frame {meta.frame_id} was answered before: ids must be new")
                        before, after, cases = before + t1 - t0, after + t2 - t1, cases + len(answer["cases"])
                        if progress is not None:
                            progress(1)
                return before, after, cases

            replay(0, frames_per_vehicle)  # warm-up: first calls, the store's first pages
            per_round = []
            cases = 0
            for r in range(1, rounds + 1):
                before, after, touched = replay(r * 100_000, frames_per_vehicle)
                n = vehicles * frames_per_vehicle
                per_round.append((1000 * before / n, 1000 * after / n))
                cases += touched
        finally:
            shutdown_state(state)
    lookup = [b for b, _ in per_round]
    after_ms = [a for _, a in per_round]
    total = [b + a for b, a in per_round]
    return {
        "command": f"streetwatch bench live-path --rounds {rounds} --frames {frames_per_vehicle}",
        "vehicles": vehicles,
        "frames_per_round": vehicles * frames_per_vehicle,
        "rounds": rounds,
        "jpeg_bytes_mean": round(statistics.fmean(len(j) for j in jpegs)),
        "cases_in_answers": cases,
        "cpu_ms_per_frame": {
            "lookup_and_decode": round(statistics.median(lookup), 3),
            "after_detection": round(statistics.median(after_ms), 3),
            "total": round(statistics.median(total), 3),
        },
        "cpu_ms_per_frame_by_round": [round(t, 3) for t in total],
    }
