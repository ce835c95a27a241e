"""Inspectors' API: case lists (filters, cursors), detail, evidence, lifecycle actions, exports, Open311."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from api_support import LAT0, LON0, make_event


@pytest.fixture(scope="module")
def svc(make_service):
    """A service on the bundled taxonomy, seeded with three cases at three places."""
    svc = make_service(taxonomy=None)
    past = datetime.now(UTC) - timedelta(hours=1)
    store = svc.store
    svc.ids = {
        "stall": store.cases.ingest_event(
            make_event(
                "e-stall",
                "out_of_store_vending",
                "09005",
                LAT0,
                LON0,
                road_segment_id="seg-west",
                deadline=past,
                seed=1,
            )
        ).case.id,
        "bin": store.cases.ingest_event(
            make_event(
                "e-bin",
                "overflowing_bin",
                "06042",
                LAT0,
                LON0 + 0.002,
                class_id=3,
                road_segment_id="seg-east",
                seed=2,
            )
        ).case.id,
        "car": store.cases.ingest_event(
            make_event(
                "e-car", "illegal_parking", "09009", LAT0 + 0.01, LON0, class_id=1, vehicle_id="veh-2", seed=3
            )
        ).case.id,
    }
    return svc


def ids(response) -> set[int]:
    assert response.status_code == 200, response.text
    return {c["id"] for c in response.json()["items"]}


def test_filters(svc):
    get = lambda **q: svc.client.get("/v1/cases", params=q, headers=svc.auth("inspector"))  # noqa: E731
    every = set(svc.ids.values())
    assert ids(get()) == every
    assert ids(get(status="pending_review")) == every
    assert ids(get(status="closed")) == set()
    assert ids(get(**{"class": "overflowing_bin"})) == {svc.ids["bin"]}
    assert ids(get(**{"class": "09009"})) == {svc.ids["car"]}  # by matter code
    assert ids(get(road_segment="seg-west")) == {svc.ids["stall"]}
    assert ids(get(vehicle_id="veh-2")) == {svc.ids["car"]}
    box = f"{LON0 - 0.001},{LAT0 - 0.001},{LON0 + 0.001},{LAT0 + 0.001}"
    assert ids(get(bbox=box)) == {svc.ids["stall"]}
    assert ids(get(overdue="true")) == {svc.ids["stall"]}
    assert ids(get(overdue="false")) == every - {svc.ids["stall"]}
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert ids(get(since=soon)) == set()
    assert ids(get(until=soon)) == every
    assert get(status="nonsense").status_code == 422
    assert get(**{"class": "unicorn"}).status_code == 422
    assert get(bbox="1,2,3").status_code == 422
    assert get(since="2026-11-21T08:00:00").status_code == 422  # no time zone
    too_early = get(since="0001-01-01T00:00:00+00:01")  # before year 1 in UTC
    assert too_early.status_code == 422 and too_early.json()["detail"].startswith("since: out of range")
    assert get(until="9999-12-31T23:59:59-00:01").status_code == 422  # after year 9999 in UTC


def test_cursor_pagination_visits_every_case_once(svc):
    seen, cursor = [], None
    for _ in range(10):
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = svc.client.get("/v1/cases", params=params, headers=svc.auth("inspector")).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(svc.ids.values())
    bad = svc.client.get("/v1/cases", params={"cursor": "garbage"}, headers=svc.auth("inspector"))
    assert bad.status_code in (400, 422)


def test_detail_and_evidence_by_url(svc):
    detail = svc.client.get(f"/v1/cases/{svc.ids['stall']}", headers=svc.auth("inspector")).json()
    assert len(detail["observations"]) == 1
    assert detail["history"][0]["action"] == "created"
    url = detail["evidence_url"]
    assert url.startswith("/v1/evidence/")
    image = svc.client.get(url, headers=svc.auth("inspector"))
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.content[:2] == b"\xff\xd8"
    assert svc.client.get(url).status_code == 401
    assert (
        svc.client.get("/v1/evidence/" + "0" * 64 + ".jpg", headers=svc.auth("inspector")).status_code == 404
    )
    assert svc.client.get("/v1/evidence/..%2Fsecret", headers=svc.auth("inspector")).status_code in (404, 422)
    assert svc.client.get("/v1/cases/999999", headers=svc.auth("inspector")).status_code == 404


def test_lifecycle_actions_are_recorded_with_the_acting_user(make_service):
    svc = make_service(taxonomy=None)
    case_id = svc.store.cases.ingest_event(
        make_event("a-1", "out_of_store_vending", "09005", LAT0, LON0)
    ).case.id
    other = svc.store.cases.ingest_event(
        make_event("a-2", "exposed_garbage", "06010", LAT0 + 0.01, LON0, class_id=4)
    ).case.id
    act = lambda cid, **body: svc.client.post(  # noqa: E731
        f"/v1/cases/{cid}/actions",
        json=body,
        headers=svc.auth("inspector"),
    )
    forbidden = act(case_id, action="close")
    assert forbidden.status_code == 409
    assert "pending_review" in forbidden.json()["detail"]
    assert act(case_id, action="reject").status_code == 422  # needs a reason
    assert act(case_id, action="fly").status_code == 422
    corrected = act(case_id, action="correct", class_name="exposed_garbage")
    assert corrected.status_code == 200 and corrected.json()["matter_code"] == "06010"
    assert act(case_id, action="confirm", note="seen on the evidence").json()["status"] == "confirmed"
    assert act(case_id, action="dispatch", unit="Street team 3").json()["responsible_unit"] == "Street team 3"
    rejected = act(other, action="reject", reason="false_positive", note="a parked cart, not a stall")
    assert rejected.json()["status"] == "rejected"
    history = svc.client.get(f"/v1/cases/{case_id}", headers=svc.auth("inspector")).json()["history"]
    actions = [(h["action"], h["actor"], h["from_status"], h["to_status"]) for h in history]
    assert actions[1:] == [
        ("correct", "inspector-key", "pending_review", "pending_review"),
        ("confirm", "inspector-key", "pending_review", "confirmed"),
        ("dispatch", "inspector-key", "confirmed", "dispatched"),
    ]
    assert act(999999, action="confirm").status_code == 404


def test_exports(svc):
    geo = svc.client.get("/v1/exports/cases.geojson", headers=svc.auth("inspector"))
    assert geo.status_code == 200
    features = geo.json()["features"]
    assert {f["id"] for f in features} == set(svc.ids.values())
    stall = next(f for f in features if f["id"] == svc.ids["stall"])
    assert stall["geometry"]["coordinates"] == pytest.approx([LON0, LAT0])
    assert stall["properties"]["matter_code"] == "09005"
    text = svc.client.get(
        "/v1/exports/cases.csv", params={"class": "09005"}, headers=svc.auth("inspector")
    ).text
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [int(r["id"]) for r in rows] == [svc.ids["stall"]]
    assert rows[0]["class_zh"] == "店外经营"


def test_open311_publishes_confirmed_cases_with_the_mapped_status(make_service):
    svc = make_service(taxonomy=None)
    store = svc.store
    pending = store.cases.ingest_event(make_event("o-1", "out_of_store_vending", "09005", LAT0, LON0)).case.id
    confirmed = store.cases.ingest_event(
        make_event("o-2", "overflowing_bin", "06042", LAT0 + 0.01, LON0, class_id=3, road_segment_id="seg-1")
    ).case.id
    closed = store.cases.ingest_event(
        make_event("o-3", "exposed_garbage", "06010", LAT0 + 0.02, LON0, class_id=4)
    ).case.id
    store.cases.apply_action(confirmed, "confirm", "ins")
    for action in ("confirm", "dispatch", "handle", "verify", "close"):
        store.cases.apply_action(closed, action, "ins")
    headers = svc.auth("inspector")
    services = svc.client.get("/open311/v2/services.json", headers=headers).json()
    assert {s["service_code"] for s in services} == {"09005", "09009", "09010", "L-0001", "06042", "06010"}
    requests = svc.client.get("/open311/v2/requests.json", headers=headers).json()
    by_id = {r["service_request_id"]: r for r in requests}
    assert set(by_id) == {str(confirmed), str(closed)}  # the unconfirmed detection is not published
    assert by_id[str(confirmed)]["status"] == "open"
    assert by_id[str(closed)]["status"] == "closed"
    one = by_id[str(confirmed)]
    assert one["service_code"] == "06042" and one["long"] == pytest.approx(LON0)
    assert one["requested_datetime"].endswith(("Z", "+00:00"))
    assert one["media_url"].startswith("http") and one["media_url"].endswith("/published")  # people blurred
    published = one["media_url"].removeprefix("http://testserver")
    media = svc.client.get(published, headers=svc.auth("vehicle", "V1"))
    assert media.status_code == 200 and media.content[:2] == b"\xff\xd8"  # a non-inspector may fetch it
    original = svc.client.get(published.replace("/published", "/evidence"), headers=svc.auth("vehicle", "V1"))
    assert original.status_code == 403  # the original stays on the review page
    only_closed = svc.client.get(
        "/open311/v2/requests.json", params={"status": "closed"}, headers=headers
    ).json()
    assert [r["service_request_id"] for r in only_closed] == [str(closed)]
    by_code = svc.client.get(
        "/open311/v2/requests.json", params={"service_code": "06042"}, headers=headers
    ).json()
    assert [r["service_request_id"] for r in by_code] == [str(confirmed)]
    for bad in ({"start_date": "2026-11-21T08:00:00"}, {"start_date": "0001-01-01T00:00:00+00:01"}):
        refused = svc.client.get("/open311/v2/requests.json", params=bad, headers=headers)
        assert refused.status_code == 400 and refused.json()["detail"].startswith("start_date: ")
    single = svc.client.get(f"/open311/v2/requests/{confirmed}.json", headers=headers)
    assert single.status_code == 200 and single.json()[0]["service_request_id"] == str(confirmed)
    assert svc.client.get(f"/open311/v2/requests/{pending}.json", headers=headers).status_code == 404
