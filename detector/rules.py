"""Rules: does a confirmed track matter here, what is it filed as, whose is it, and by when.

Per class (configuration, `ClassRule`):
- `requires_zone`: the object must stand in a zone of that layer (e.g. a `vehicle` in `no_parking`);
- `min_stationary_seconds`: the object must stay put that long, either within one track (the patrol
  vehicle waited next to it) or since an earlier sighting at the same place; `repeat_pass_counts`
  lets a sighting on an earlier pass (another video or stream) count whatever the time between;
  sightings are kept by a `SightingLog` (the case store implements it) so passes processed by
  separate runs see each other;
- `becomes`: the class the event is filed under (vehicle -> illegal_parking);
- `min_box_area_frac`, `min_hits`, `min_median_score`: see detector.events.track_passes.

Then the event gets its road segment (nearest within `max_segment_distance_m`), the responsible unit
and road chief from it, the area class, and a deadline from the taxonomy (per class and area class).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from detector.events import position_spread_m
from detector.geo import GeoPosition
from detector.pipeline_config import PipelineConfig
from detector.taxonomy import Taxonomy
from detector.track import Track
from detector.zones import RoadSegment, ZoneLayers


class SightingLog(Protocol):
    """Where rules remember context objects between passes (serve.store.CaseStore implements it)."""

    def record_sighting(
        self,
        class_name: str,
        vehicle_id: str,
        lat: float,
        lon: float,
        at: datetime,
        source: str | None = None,
        track_key: str | None = None,
        data: dict | None = None,
    ) -> Any: ...

    def sightings_near(
        self,
        lat: float,
        lon: float,
        radius_m: float,
        class_name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        exclude_source: str | None = None,
    ) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class RuleDecision:
    accepted: bool
    class_name: str  # after rules (vehicle -> illegal_parking)
    matter_code: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Placement:
    """Administrative placement of an event: road segment, responsible unit, deadline, layer version."""

    segment: RoadSegment | None
    deadline: datetime | None
    layer_version: str | None


class RuleEngine:
    def __init__(
        self,
        config: PipelineConfig,
        taxonomy: Taxonomy,
        zones: ZoneLayers | None = None,
        sightings: SightingLog | None = None,
    ) -> None:
        self.config = config
        self.taxonomy = taxonomy
        self.zones = zones
        self.sightings = sightings

    def _spec(self, name: str):
        try:
            return self.taxonomy.by_name(name)
        except KeyError:
            return None

    def where_filed(self, track: Track, position: GeoPosition) -> RuleDecision:
        """The checks that need nothing but the track's class and place: is its target class a
        violation of the taxonomy, and does it stand in the zone its rule requires. Remembers nothing,
        so the caller may run it before dearer checks (the crop verifier) and skip those for a track
        that could never be filed here."""
        rule = self.config.rule_for(track.class_name)
        target = rule.becomes or track.class_name
        spec = self._spec(target)
        if spec is not None and not spec.violation:
            return RuleDecision(False, target, None, f"context class: {target} files no case of its own")
        if spec is None or not spec.matter_code:
            return RuleDecision(False, target, None, f"{target} is not a violation class of the taxonomy")
        if rule.requires_zone:
            if self.zones is None:
                return RuleDecision(
                    False, target, spec.matter_code, f"no zone layers loaded ({rule.requires_zone})"
                )
            if not self.zones.in_zone(rule.requires_zone, position.lat, position.lon, rule.zone_buffer_m):
                return RuleDecision(False, target, spec.matter_code, f"outside {rule.requires_zone} zones")
        return RuleDecision(True, target, spec.matter_code, "ok")

    def judge(
        self,
        track: Track,
        position: GeoPosition,
        *,
        vehicle_id: str,
        source_id: str,
        track_key: str,
        first_seen: datetime,
        last_seen: datetime,
        placed: RuleDecision | None = None,
    ) -> RuleDecision:
        """Apply the class's zone and dwell rules to a track that already passed hits/score.
        `placed`: the answer of `where_filed` when the caller already asked it. The dwell rule
        records the sighting for later passes, so it runs last, once the track is otherwise filed."""
        decision = placed if placed is not None else self.where_filed(track, position)
        if not decision.accepted:
            return decision
        rule = self.config.rule_for(track.class_name)
        if rule.min_stationary_seconds > 0:
            ok, reason = self._dwell(
                track, position, rule, vehicle_id, source_id, track_key, first_seen, last_seen
            )
            if not ok:
                return RuleDecision(False, decision.class_name, decision.matter_code, reason)
        return decision

    def _dwell(self, track, position, rule, vehicle_id, source_id, track_key, first_seen, last_seen):
        spread = position_spread_m(track, rule.stationary_spread_quantile)
        if spread > rule.stationary_max_spread_m:
            return False, f"moving (ground positions spread {spread:.1f} m)"
        if track.duration >= rule.min_stationary_seconds:
            return True, "stationary within the track"
        if self.sightings is None:
            return (
                False,
                f"seen for {track.duration:.0f} s < {rule.min_stationary_seconds:.0f} s and no sighting log",
            )
        earlier = self.sightings.sightings_near(
            position.lat,
            position.lon,
            rule.same_place_radius_m,
            class_name=track.class_name,
            until=last_seen,
        )
        # Record after the lookup, so a track never confirms itself.
        self.sightings.record_sighting(
            track.class_name,
            vehicle_id,
            position.lat,
            position.lon,
            first_seen,
            source=source_id,
            track_key=track_key,
            data={"hits": track.hits, "duration_s": round(track.duration, 2)},
        )
        for s in earlier:
            if getattr(s, "track_key", None) == track_key:
                continue
            at = _aware(s.at)
            if first_seen - at >= timedelta(seconds=rule.min_stationary_seconds):
                return (
                    True,
                    f"stationary since an earlier sighting ({(first_seen - at).total_seconds():.0f} s)",
                )
            # Only an EARLIER pass counts: re-processing the first pass later must not change its outcome.
            gap = (first_seen - at).total_seconds()
            other_pass = getattr(s, "source", None) != source_id
            if rule.repeat_pass_counts and other_pass and gap >= rule.min_pass_gap_seconds:
                return True, "seen at the same place on an earlier pass"
        return (
            False,
            f"seen for {track.duration:.0f} s < {rule.min_stationary_seconds:.0f} s, no earlier sighting",
        )

    def place(self, class_name: str, lat: float, lon: float, first_seen: datetime) -> Placement:
        """Road segment (nearest within the limit), deadline from the taxonomy, layer version."""
        segment = None
        if self.zones is not None:
            found = self.zones.nearest_segment(lat, lon, self.config.max_segment_distance_m)
            segment = found[0] if found else None
        spec = self._spec(class_name)
        hours = spec.deadline_for(segment.area_class if segment else None) if spec else None
        deadline = first_seen + timedelta(hours=hours) if hours is not None else None
        return Placement(segment, deadline, self.zones.version if self.zones is not None else None)


def _aware(dt: datetime) -> datetime:
    from datetime import UTC

    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
