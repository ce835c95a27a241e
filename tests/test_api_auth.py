"""Who may do what: 401 without a valid key, 403 with the wrong role or vehicle; web login cookies."""

from __future__ import annotations

import time

import pytest
from api_support import frame_metadata


@pytest.fixture(scope="module")
def svc(make_service):
    return make_service()


def send_frame(svc, vehicle_id: str, headers: dict, bus_jpeg: bytes, frame_id: str = "a1"):
    return svc.client.post(
        "/v1/frames",
        files={"image": ("f.jpg", bus_jpeg, "image/jpeg")},
        data={"metadata": frame_metadata(vehicle_id, frame_id)},
        headers=headers,
    )


def send_image_body(svc, vehicle_id: str, headers: dict, bus_jpeg: bytes, frame_id: str = "b1"):
    """The same frame as the request body (metadata in X-Frame-Metadata): its own path in the service."""
    return svc.client.post(
        "/v1/frames",
        content=bus_jpeg,
        headers={
            **headers,
            "Content-Type": "image/jpeg",
            "X-Frame-Metadata": frame_metadata(vehicle_id, frame_id),
        },
    )


def test_an_image_body_needs_the_same_key_as_the_form(svc, bus_jpeg):
    nobody = send_image_body(svc, "V1", {}, bus_jpeg)
    assert nobody.status_code == 401 and nobody.headers.get("WWW-Authenticate") == "Bearer"
    assert send_image_body(svc, "V1", {"Authorization": "Bearer sw_not-a-key"}, bus_jpeg).status_code == 401
    v1 = svc.auth("vehicle", "V1")
    other = send_image_body(svc, "V2", v1, bus_jpeg, "b2")
    assert other.status_code == 403 and "V1" in other.json()["detail"]
    assert send_image_body(svc, "V1", svc.auth("inspector"), bus_jpeg, "b3").status_code == 403
    assert send_image_body(svc, "V1", v1, bus_jpeg, "b4").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/cases",
        "/v1/jobs",
        "/v1/admin/keys",
        "/open311/v2/requests.json",
        "/v1/exports/cases.csv",
        "/v1/auth/me",
    ],
)
def test_no_key_is_401(svc, path):
    response = svc.client.get(path)
    assert response.status_code == 401
    assert response.headers.get("WWW-Authenticate") == "Bearer"


def test_unknown_or_revoked_key_is_401(svc):
    assert svc.client.get("/v1/cases", headers={"Authorization": "Bearer sw_not-a-key"}).status_code == 401
    created = svc.client.post(
        "/v1/admin/keys", headers=svc.auth(), json={"name": "temp", "role": "inspector"}
    ).json()
    key = created["key"]
    assert svc.client.get("/v1/cases", headers={"X-API-Key": key}).status_code == 200
    listed = svc.client.get("/v1/admin/keys", headers=svc.auth()).json()
    assert all("key" not in k and k["prefix"] for k in listed)  # never the secret
    assert (
        svc.client.delete(f"/v1/admin/keys/{created['record']['id']}", headers=svc.auth()).status_code == 200
    )
    assert svc.client.get("/v1/cases", headers={"X-API-Key": key}).status_code == 401


def test_vehicle_keys_may_only_ingest_for_their_own_vehicle(svc, bus_jpeg):
    v1 = svc.auth("vehicle", "V1")
    assert svc.client.get("/v1/cases", headers=v1).status_code == 403
    assert svc.client.post("/v1/cases/1/actions", headers=v1, json={"action": "confirm"}).status_code == 403
    assert send_frame(svc, "V1", v1, bus_jpeg).status_code == 200
    other = send_frame(svc, "V2", v1, bus_jpeg, "a2")
    assert other.status_code == 403
    assert "V1" in other.json()["detail"]
    unknown = send_frame(svc, "NOBODY", v1, bus_jpeg, "a3")
    assert unknown.status_code == 403


def test_inspectors_review_but_do_not_ingest_or_administer(svc, bus_jpeg):
    inspector = svc.auth("inspector")
    assert svc.client.get("/v1/cases", headers=inspector).status_code == 200
    assert send_frame(svc, "V1", inspector, bus_jpeg, "a4").status_code == 403
    assert svc.client.get("/v1/admin/keys", headers=inspector).status_code == 403
    assert (
        svc.client.post("/v1/admin/keys", headers=inspector, json={"name": "x", "role": "admin"}).status_code
        == 403
    )


def test_admin_key_creation_validates_the_vehicle(svc):
    missing = svc.client.post("/v1/admin/keys", headers=svc.auth(), json={"name": "car", "role": "vehicle"})
    assert missing.status_code == 422
    assert "vehicle_id" in missing.json()["detail"]


def test_web_login_cookie_works_for_the_api_and_logout_ends_it(svc):
    from fastapi.testclient import TestClient

    username, password = svc.inspector_login
    browser = TestClient(svc.app)
    wrong = browser.post("/v1/auth/login", json={"username": username, "password": password + "x"})
    assert wrong.status_code == 401
    ok = browser.post("/v1/auth/login", json={"username": username, "password": password})
    assert ok.status_code == 200
    assert ok.json()["role"] == "inspector"
    assert browser.get("/v1/auth/me").json()["name"] == username
    assert browser.get("/v1/cases").status_code == 200
    assert browser.get("/v1/admin/keys").status_code == 403
    browser.cookies.set("sw_session", browser.cookies.get("sw_session")[:-3] + "AAA")  # forged signature
    assert browser.get("/v1/cases").status_code == 401


def test_health_and_metrics_need_no_key(svc):
    assert svc.client.get("/healthz").json() == {"status": "ok"}
    ready = svc.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"model": True, "store": True}
    assert "streetwatch_cases" in svc.client.get("/metrics").text


def test_a_key_revoked_by_another_process_stops_working_within_the_cache_time(make_service):
    svc = make_service()
    svc.app.state.sw.key_cache.ttl_s = 0.5
    record, key = svc.store.access.create_api_key("elsewhere", "inspector", None)
    headers = {"X-API-Key": key}
    assert svc.client.get("/v1/cases", headers=headers).status_code == 200
    # as `streetwatch keys revoke` would, behind the service's back
    svc.store.access.revoke_api_key(record.id)
    time.sleep(0.6)
    assert svc.client.get("/v1/cases", headers=headers).status_code == 401


def test_the_key_cache_keeps_no_usable_key(make_service):
    """A dump of the service's memory must not hand out working keys: the cache holds digests only."""
    import pickle

    svc = make_service()
    _, key = svc.store.access.create_api_key("dumped", "inspector", None)
    assert svc.client.get("/v1/cases", headers={"X-API-Key": key}).status_code == 200
    cache = svc.app.state.sw.key_cache
    assert cache.get(key) is not None  # remembered ...
    assert key.encode() not in pickle.dumps(cache)  # ... but not as the key itself
