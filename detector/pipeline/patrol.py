"""Patrol verification: handled cases along a recorded route that the vehicle passed in view of."""

from __future__ import annotations

import dataclasses
from typing import Any

from detector.errors import StreetWatchError
from detector.geo import CameraMount, distance_m, initial_bearing
from detector.gps import GpsTrack
from detector.pipeline.ingest import ProcessSummary
from detector.pipeline_config import PipelineConfig
from detector.types import Frame


class PatrolVerifier:
    """Handled cases along the route: was the place in view, and was the violation still there?

    A case counts as passed when its position came into the camera's view (within the horizontal
    field of view, `min_m`..`max_m` ahead) in at least one frame; the frame where it was nearest is
    kept as verification evidence. After the run, a passed case that no event of this run re-observed
    (same matter code within `merge_distance_m`) gets `store.attach_verification`.
    """

    def __init__(self, cases: list[Any], min_m: float = 4.0, max_m: float = 25.0) -> None:
        self.cases = cases
        self.min_m, self.max_m = min_m, max_m
        self.best: dict[int, tuple[float, Frame, Any]] = {}  # case id -> (distance, frame copy, meta)

    @classmethod
    def for_route(cls, store: Any, gps: GpsTrack) -> PatrolVerifier | None:
        """The handled cases within 40 m of the route `gps` drove (None: none, or a store without cases)."""
        if not hasattr(store, "find_cases_near") or not hasattr(store, "attach_verification"):
            return None
        found: dict[int, Any] = {}
        fixes = gps.fixes
        last = None
        for fix in fixes:
            if last is not None and distance_m(last[0], last[1], fix.lat, fix.lon) < 10.0:
                continue
            last = (fix.lat, fix.lon)
            for case in store.find_cases_near(fix.lat, fix.lon, 40.0, statuses=["handled"]):
                found[int(case.id)] = case
        return cls(list(found.values())) if found else None

    def look(self, frame: Frame, camera: CameraMount) -> None:
        meta = frame.meta
        if meta is None or meta.lat is None or meta.lon is None or meta.heading is None:
            return
        for case in self.cases:
            d = distance_m(meta.lat, meta.lon, case.lat, case.lon)
            if not (self.min_m <= d <= self.max_m):
                continue
            bearing = initial_bearing(meta.lat, meta.lon, case.lat, case.lon)
            off_axis = (bearing - (meta.heading + camera.yaw_deg) + 180.0) % 360.0 - 180.0
            if abs(off_axis) > camera.hfov_deg / 2.0 * 0.9:
                continue
            prev = self.best.get(int(case.id))
            if prev is None or d < prev[0]:
                self.best[int(case.id)] = (
                    d,
                    dataclasses.replace(frame, image=frame.image.copy(), meta=meta),
                    meta,
                )

    def attach(
        self, store: Any, summary: ProcessSummary, source_id: str, vehicle_id: str, config: PipelineConfig
    ) -> int:
        import cv2

        seen_again = summary.events_detail
        attached = 0
        for case in self.cases:
            entry = self.best.get(int(case.id))
            if entry is None:
                continue
            merge_m = config.cases.distance_for(case.class_name)
            again = any(
                e["class_name"] == case.class_name
                and distance_m(e["lat"], e["lon"], case.lat, case.lon) <= merge_m
                for e in seen_again
            )
            if again:
                continue
            _, frame, meta = entry
            ok, jpeg = cv2.imencode(
                ".jpg", frame.full_image(), [cv2.IMWRITE_JPEG_QUALITY, config.evidence.jpeg_quality]
            )
            try:
                store.attach_verification(
                    int(case.id),
                    vehicle_id=vehicle_id,
                    at=meta.captured_at,
                    lat=meta.lat,
                    lon=meta.lon,
                    event_key=f"{source_id}:verify:{case.id}",
                    evidence_jpeg=jpeg.tobytes() if ok else None,
                    frame_index=frame.index,
                    source=source_id,
                    note="patrol pass: violation no longer seen at this place",
                )
            except StreetWatchError:
                continue  # the case moved on meanwhile (e.g. already verified by this pass)
            attached += 1
        return attached

