"""Cases from events: one case per violation and place, across frames, passes and vehicles."""

from __future__ import annotations

import hashlib

import pytest
from store_events import BASE_LAT, BASE_LON, make_event, offset

from serve.store import CaseStatus, CaseStore, LocalEvidenceStorage
from serve.store.geo import haversine_m


def test_same_code_within_15_m_joins_one_case(store: CaseStore) -> None:
    first = store.cases.ingest_event(make_event("pass1:track3", vehicle_id="veh-1"))
    assert first.created and first.observation_added
    assert first.case.status is CaseStatus.pending_review
    second = store.cases.ingest_event(make_event("pass2:track9", north_m=8, east_m=-6, vehicle_id="veh-2"))
    third = store.cases.ingest_event(make_event("pass3:track1", east_m=10, vehicle_id="veh-1"))
    assert not second.created and not third.created
    assert first.case.id == second.case.id == third.case.id
    case = store.cases.get_case(first.case.id)
    assert case.observation_count == 3
    assert case.vehicle_ids == ["veh-1", "veh-2"]
    assert [o.event_key for o in store.cases.get_observations(case.id)] == [
        "pass1:track3",
        "pass2:track9",
        "pass3:track1",
    ]
    # The case sits at the mean of its observations.
    lat, lon = offset(BASE_LAT, BASE_LON, 8 / 3, 4 / 3)
    assert haversine_m(case.lat, case.lon, lat, lon) < 0.5
    assert [c.id for c in store.cases.find_cases_near(BASE_LAT, BASE_LON, 15)] == [case.id]


def test_different_code_or_farther_opens_a_new_case(store: CaseStore) -> None:
    base = store.cases.ingest_event(make_event("a")).case
    other_class = store.cases.ingest_event(make_event("b", north_m=2, class_name="overflowing_bin"))
    far = store.cases.ingest_event(make_event("c", north_m=16))
    assert other_class.created and far.created
    assert len({base.id, other_class.case.id, far.case.id}) == 3
    # A larger merge distance is the caller's choice.
    wide = store.cases.ingest_event(make_event("d", north_m=30), merge_distance_m=40)
    assert not wide.created and wide.case.id in (base.id, far.case.id)


def test_the_merge_distance_can_differ_per_class(store: CaseStore) -> None:
    """A city's configuration: two cars parked 10 m apart are two violations, while two bins 10 m
    apart (one garbage station) stay one case under the 15 m default."""
    from detector.pipeline.ingest import ProcessSummary, ingest_events
    from detector.pipeline_config import load_pipeline_config

    city = {"cases": {"merge_distance_by_class": {"illegal_parking": 6}}}
    merging = load_pipeline_config(overrides=city).cases
    events = [
        make_event("car1", class_name="illegal_parking"),
        make_event("car2", east_m=10, class_name="illegal_parking"),
        make_event("car1-again", east_m=1, class_name="illegal_parking", vehicle_id="veh-2"),
        make_event("bin1", north_m=40, class_name="overflowing_bin"),
        make_event("bin2", north_m=40, east_m=10, class_name="overflowing_bin"),
    ]
    results = ingest_events(store, events, ProcessSummary(), merging)
    car1, car2, car1_again, bin1, bin2 = (r.case.id for r in results)
    assert car1 != car2 and car1_again == car1
    assert bin1 == bin2
    assert merging.distance_for("exposed_soil") == 15.0
    from detector.errors import ConfigError

    with pytest.raises(ConfigError, match=r"cases\.merge_distance_by_class\.illegal_parking"):
        load_pipeline_config(overrides={"cases": {"merge_distance_by_class": {"illegal_parking": 0}}})


def test_joins_the_nearest_open_case(store: CaseStore) -> None:
    west = store.cases.ingest_event(make_event("w", east_m=-10)).case
    east = store.cases.ingest_event(make_event("e", east_m=10)).case
    assert west.id != east.id
    assert store.cases.ingest_event(make_event("x", east_m=4)).case.id == east.id
    assert store.cases.ingest_event(make_event("y", east_m=-3)).case.id == west.id


@pytest.mark.parametrize("final", ["closed", "rejected", "voided"])
def test_ended_case_does_not_absorb_new_events(store: CaseStore, final: str) -> None:
    case_id = store.cases.ingest_event(make_event("old")).case.id
    path = {
        "closed": ["confirm", "dispatch", "handle", "verify", "close"],
        "rejected": ["reject"],
        "voided": ["void"],
    }[final]
    for action in path:
        store.cases.apply_action(case_id, action, "alice", "reason")
    again = store.cases.ingest_event(make_event("new", north_m=1))
    assert again.created and again.case.id != case_id
    assert store.cases.get_case(case_id).observation_count == 1


def test_event_key_is_idempotent(store: CaseStore) -> None:
    first = store.cases.ingest_event(make_event("video-sha1:track-7"))
    repeat = store.cases.ingest_event(
        make_event("video-sha1:track-7", north_m=50)
    )  # same key, whatever the content
    assert repeat.case.id == first.case.id
    assert not repeat.created and not repeat.observation_added
    assert repeat.observation.id == first.observation.id
    assert store.cases.get_case(first.case.id).observation_count == 1
    assert len(store.cases.get_observations(first.case.id)) == 1
    assert store.cases.counts_by_status()["pending_review"] == 1


def test_best_evidence_is_the_best_observation_and_content_addressed(store: CaseStore, tmp_path) -> None:
    small = make_event("small", score=0.9, box=(0, 0, 40, 40))
    big = make_event("big", north_m=2, score=0.7, box=(0, 0, 200, 160))
    worse = make_event("worse", north_m=1, score=0.5, box=(0, 0, 100, 100))
    case = store.cases.ingest_event(small).case
    assert case.evidence_key == hashlib.sha256(small.evidence_jpeg).hexdigest() + ".jpg"
    case = store.cases.ingest_event(big).case
    assert case.evidence_key == hashlib.sha256(big.evidence_jpeg).hexdigest() + ".jpg"
    assert case.best_box == [0.0, 0.0, 200.0, 160.0] and case.score == pytest.approx(0.7)
    case = store.cases.ingest_event(worse).case
    assert case.evidence_key == hashlib.sha256(big.evidence_jpeg).hexdigest() + ".jpg"
    assert store.evidence.get(case.evidence_key) == big.evidence_jpeg
    assert store.evidence.get(case.crop_key) == big.crop_jpeg
    assert case.evidence_url.endswith(case.evidence_key)
    best = next(o for o in store.cases.get_observations(case.id) if o.id == case.best_observation_id)
    assert best.event_key == "big"
    # The event can state its own evidence quality (e.g. with sharpness).
    sharp = make_event("sharp", north_m=1, score=0.4, box=(0, 0, 10, 10), extra={"evidence_quality": 1e6})
    assert store.cases.ingest_event(sharp).case.best_observation_id != case.best_observation_id


def test_storage_is_content_addressed_and_refuses_bad_keys(tmp_path) -> None:
    storage = LocalEvidenceStorage(tmp_path / "ev")
    key = storage.put(b"\xff\xd8jpeg", ".jpg")
    assert storage.put(b"\xff\xd8jpeg", ".jpg") == key
    assert storage.get(key) == b"\xff\xd8jpeg" and storage.exists(key)
    assert storage.path(key).read_bytes() == b"\xff\xd8jpeg"
    assert len(list((tmp_path / "ev").rglob("*.jpg"))) == 1
    with pytest.raises(KeyError):
        storage.get("0" * 64 + ".jpg")
    for bad in ("../../etc/passwd", "abc.jpg", "0" * 64 + "/x"):
        with pytest.raises(Exception, match="invalid evidence key"):
            storage.get(bad)


def test_road_segment_and_deadline_come_from_the_event(store: CaseStore) -> None:
    event = make_event(
        "seg",
        road_segment_id="RS-17",
        road_name="Nanjing West Rd (Shimen–Maoming)",
        responsible_unit="Jing'an urban management",
        road_chief="Li Wei",
        area_class="A",
        layer_version="zones-2026.11",
    )
    case = store.cases.ingest_event(event).case
    assert (case.road_segment_id, case.road_chief, case.area_class, case.layer_version) == (
        "RS-17",
        "Li Wei",
        "A",
        "zones-2026.11",
    )
    assert case.deadline is not None and (case.deadline - case.created_at).total_seconds() == 2 * 3600
    assert case.class_zh == "店外经营"


def test_patrol_verification_of_a_handled_case(store: CaseStore) -> None:
    case_id = store.cases.ingest_event(make_event("v")).case.id
    with pytest.raises(Exception, match="only handled"):
        store.cases.attach_verification(
            case_id, vehicle_id="veh-3", at=make_event("z").last_seen, lat=1, lon=1, event_key="k"
        )
    for action in ("confirm", "dispatch", "handle"):
        store.cases.apply_action(case_id, action, "alice")
    lat, lon = offset(BASE_LAT, BASE_LON, 1, 1)
    at = make_event("z").last_seen
    case = store.cases.attach_verification(
        case_id, vehicle_id="veh-3", at=at, lat=lat, lon=lon, event_key="pass9:verify", evidence_jpeg=b"frame"
    )
    assert case.status is CaseStatus.verified
    again = store.cases.attach_verification(
        case_id, vehicle_id="veh-3", at=at, lat=lat, lon=lon, event_key="pass9:verify"
    )
    assert again.status is CaseStatus.verified
    observations = store.cases.get_observations(case_id)
    assert [o.kind for o in observations] == ["detection", "verification"]
    assert store.evidence.get(observations[1].evidence_key) == b"frame"
    entry = store.cases.get_history(case_id)[-1]
    assert (entry.action, entry.actor, entry.from_status, entry.to_status) == (
        "verify",
        "patrol:veh-3",
        CaseStatus.handled,
        CaseStatus.verified,
    )
    assert store.cases.get_case(case_id).observation_count == 1  # verifications do not count as detections


def test_patrol_verification_can_leave_the_decision_to_an_inspector(store: CaseStore) -> None:
    case_id = store.cases.ingest_event(make_event("v")).case.id
    for action in ("confirm", "dispatch", "handle"):
        store.cases.apply_action(case_id, action, "alice")
    at = make_event("z").last_seen
    case = store.cases.attach_verification(
        case_id, vehicle_id="veh-3", at=at, lat=BASE_LAT, lon=BASE_LON, event_key="p", auto_verify=False
    )
    assert case.status is CaseStatus.handled
    assert store.cases.get_history(case_id)[-1].action == "patrol_verification"
    # A new detection at a handled case is flagged in the history.
    store.cases.ingest_event(make_event("back", north_m=2))
    assert store.cases.get_history(case_id)[-1].action == "reobserved"


class _DictStorage:
    """A second backend behind the same protocol (as the S3 backend is)."""

    def __init__(self, spec: str) -> None:
        self.spec, self.blobs = spec, {}

    def put(self, data: bytes, suffix: str = ".jpg") -> str:
        key = hashlib.sha256(data).hexdigest() + suffix
        self.blobs[key] = data
        return key

    def get(self, key: str) -> bytes:
        return self.blobs[key]

    def exists(self, key: str) -> bool:
        return key in self.blobs

    def url(self, key: str) -> str:
        return f"https://evidence.example/{key}"

    def path(self, key: str):
        return None


def test_other_storage_backends_plug_in_by_scheme(tmp_path, monkeypatch) -> None:
    from serve.store import storage

    monkeypatch.setitem(storage.STORAGE_SCHEMES, "dict", _DictStorage)
    with CaseStore.open(f"sqlite:///{tmp_path / 'c.db'}", "dict://bucket/prefix") as store:
        assert (
            isinstance(store.evidence, storage.EvidenceStorage)
            and store.evidence.spec == "dict://bucket/prefix"
        )
        event = make_event("k")
        case = store.cases.ingest_event(event).case
        assert store.evidence.get(case.evidence_key) == event.evidence_jpeg
        assert case.evidence_url == f"https://evidence.example/{case.evidence_key}"
    with pytest.raises(Exception, match="unknown evidence storage scheme"):
        storage.open_storage("nosuch://x")
