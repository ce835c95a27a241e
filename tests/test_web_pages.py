"""The inspector page's routes over real HTTP (uvicorn on loopback, real SQLite store): who may see what.

Fast and browser-free: login required, role checks, the signed session cookie, the page-only JSON
endpoints, and that every asset comes from the service (no CDN).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from demo_seed import seed_store, write_demo_zones

from serve.store.types import SegmentStats
from serve.web.pages import ranking_rows
from serve.web.session import COOKIE_NAME, read_session, sign_session

WEB_DIR = Path(__file__).resolve().parent.parent / "serve" / "web"
PASSWORD = "correct horse battery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The real app (serve.api.create_app) served by uvicorn in a thread, with a seeded store."""
    import uvicorn

    from serve.api.app import create_app
    from serve.settings import load_settings

    data = tmp_path_factory.mktemp("web-pages")
    zones = write_demo_zones(data / "zones")
    # logins refill fast here (default: 10 a minute): this module logs in many times
    settings = load_settings(data_dir=data, bootstrap=False, job_workers=0, model_path=data / "no-model.onnx",
                             limits={"login_attempts_per_minute": 600.0, "login_burst": 20})
    app = create_app(settings)
    store = app.state.sw.store
    case_ids = seed_store(store, zones, 6, seed=3)
    store.access.create_user("wang.inspector", PASSWORD, "inspector")
    store.access.create_user("zhao.admin", PASSWORD, "admin")
    _, vehicle_key = store.access.create_api_key("patrol-01", "vehicle", vehicle_id="patrol-01")
    _, admin_key = store.access.create_api_key("ops", "admin")

    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield {
        "url": f"http://127.0.0.1:{port}", "store": store, "case_ids": case_ids, "app": app,
        "vehicle_key": vehicle_key, "admin_key": admin_key, "data": data,
    }
    server.should_exit = True
    thread.join(timeout=10)
    store.close()


def _client(service, **kw) -> httpx.Client:
    return httpx.Client(base_url=service["url"], follow_redirects=False, timeout=10, **kw)


@contextmanager
def _login(service, username="wang.inspector", password=PASSWORD) -> Iterator[httpx.Client]:
    with _client(service) as client:
        resp = client.post("/login", data={"username": username, "password": password, "next": "/"})
        assert resp.status_code == 303, resp.text
        assert COOKIE_NAME in client.cookies
        yield client


PAGES = ["/", "/cases", "/cases/1", "/map", "/ranking"]


def test_anonymous_visitors_are_sent_to_login_and_json_says_401(service):
    with _client(service) as client:
        for path in PAGES:
            resp = client.get(path)
            assert resp.status_code == 303, path
            assert resp.headers["location"].startswith("/login?next="), path
        assert client.get("/web/queue.json").status_code == 401
        assert client.get("/web/layers/road-segments.geojson").status_code == 401
        login = client.get("/login")
        assert login.status_code == 200
        assert 'name="password"' in login.text


def test_wrong_password_is_refused_and_sets_no_cookie(service):
    with _client(service) as client:
        resp = client.post("/login", data={"username": "wang.inspector", "password": "nope", "next": "/"})
        assert resp.status_code == 401
        assert "wrong user name or password" in resp.text
        assert COOKIE_NAME not in client.cookies
        assert client.get("/").status_code == 303


def test_inspector_sees_every_page_and_the_queue_is_most_urgent_first(service):
    with _login(service) as client:
        for path in PAGES:
            resp = client.get(path)
            assert resp.status_code == 200, path
            assert "wang.inspector" in resp.text
        page = client.get("/").text
        config = json.loads(re.search(r'<script id="sw-config"[^>]*>(.*?)</script>', page, re.S)[1])
        expected = [c.id for c in service["store"].cases.review_queue(limit=100).items]
        assert config["queue"] == expected and len(expected) == len(service["case_ids"])
        assert config["user"] == {"name": "wang.inspector", "role": "inspector"}
        assert client.get("/web/queue.json").json()["ids"] == expected
        # the same cookie authenticates the case API that the page's script calls
        api = client.get(f"/v1/cases/{expected[0]}")
        assert api.status_code == 200 and api.json()["id"] == expected[0]


def test_vehicle_keys_and_vehicle_logins_never_see_cases(service):
    headers = {"Authorization": f"Bearer {service['vehicle_key']}"}
    with _client(service, headers=headers) as client:
        for path in PAGES:
            resp = client.get(path)
            assert resp.status_code == 403, path
            assert "Forbidden" in resp.text and "#1" not in resp.text
        assert client.get("/web/queue.json").status_code == 403
        assert client.get("/v1/cases").status_code == 403
    service["store"].access.create_user("car.login", PASSWORD, "vehicle")
    with _client(service) as client:
        resp = client.post("/login", data={"username": "car.login", "password": PASSWORD, "next": "/"})
        assert resp.status_code == 401 and "may not review" in resp.text
        assert COOKIE_NAME not in client.cookies


def test_forged_or_expired_cookies_are_ignored(service):
    secret = service["app"].state.sw.session_secret
    forged = sign_session("zhao.admin", "admin", b"not the secret")
    expired = sign_session("zhao.admin", "admin", secret, now=time.time() - 100_000, ttl_s=60)
    for value in (forged, expired, "garbage", forged.replace(".", "")):
        with _client(service, cookies={COOKIE_NAME: value}) as client:
            assert client.get("/").status_code == 303
            assert client.get("/v1/cases").status_code == 401
    valid = sign_session("zhao.admin", "admin", secret)
    with _client(service, cookies={COOKIE_NAME: valid}) as client:
        assert client.get("/").status_code == 200


def test_a_cookie_for_a_user_who_no_longer_exists_is_refused(service):
    """The cookie names the user; the role comes from the store on every request."""
    value = sign_session("ghost", "admin", service["app"].state.sw.session_secret)
    with _client(service, cookies={COOKIE_NAME: value}) as client:
        assert client.get("/").status_code == 303


def test_logout_clears_the_session_and_next_cannot_leave_the_site(service):
    with _client(service) as client:
        creds = {"username": "zhao.admin", "password": PASSWORD}
        resp = client.post("/login", data={**creds, "next": "//evil.example/x"})
        assert resp.status_code == 303 and resp.headers["location"] == "/"
        resp = client.post("/login", data={**creds, "next": "/map"})
        assert resp.headers["location"] == "/map"
        assert client.get("/map").status_code == 200
        out = client.post("/logout")
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert client.get("/map").status_code == 303


def test_road_segment_layer_is_served_with_case_vocabulary(service):
    with _login(service) as client:
        layer = client.get("/web/layers/road-segments.geojson")
        assert layer.status_code == 200
        features = layer.json()["features"]
        ids = {f["properties"]["road_segment_id"] for f in features}
        assert ids == {"S-001", "S-002", "S-003", "S-004"}
        props = next(f["properties"] for f in features if f["properties"]["road_segment_id"] == "S-002")
        assert props["road_name"] == "河南中路" and props["road_chief"] == "李娜"
        zones = client.get("/web/layers/zones.geojson").json()["features"]
        assert [f["properties"]["layer"] for f in zones] == ["no_parking"]


def test_ranking_page_lists_every_segment_with_its_road_chief(service):
    store = service["store"]
    first = service["case_ids"][0]
    for action in ("confirm", "dispatch", "handle", "verify", "close"):
        store.cases.apply_action(first, action, "zhao.admin")
    with _login(service) as client:
        page = client.get("/ranking", params={"period": "7d"})
        assert page.status_code == 200
        for chief in ("王伟", "李娜", "张敏", "刘洋"):
            assert chief in page.text
        bad_date = client.get("/ranking", params={"since": "2026-13-01"})
        assert bad_date.status_code == 200 and "YYYY-MM-DD" in bad_date.text
        long_ago = client.get("/ranking", params={"since": "2001-01-01", "until": "2001-01-31"})
        assert long_ago.text.count('data-segment="S-') == 4  # segments without cases are listed at 0
        today = datetime.now(UTC).date()
        custom = client.get("/ranking", params={"since": (today - timedelta(days=2)).isoformat(),
                                                "until": today.isoformat()})
        assert custom.status_code == 200 and "S-001" in custom.text


def test_flags_mark_the_best_and_the_worst_segment():
    def line(seg, opened, closed, overdue, median=None):
        return SegmentStats(road_segment_id=seg, opened=opened, closed=closed, open_now=opened - closed,
                            overdue=overdue, median_hours_to_close=median)

    stats = [line("A", 4, 4, 0, 2.0), line("B", 5, 1, 3, 30.0), line("C", 2, 1, 1, 5.0), line("D", 0, 0, 0)]
    rows = {r["road_segment_id"]: r for r in ranking_rows(stats)}
    assert rows["A"]["flag"] == "red" and rows["B"]["flag"] == "black"
    assert rows["C"]["flag"] is None and rows["D"]["flag"] is None
    assert rows["B"]["close_rate"] == pytest.approx(0.2)
    assert ranking_rows(stats[:1])[0]["flag"] is None  # one segment: nothing to compare
    assert [r["road_segment_id"] for r in ranking_rows(stats)] == ["B", "C", "A", "D"]  # most overdue first


def test_session_cookie_round_trip_and_tampering():
    secret = b"k" * 32
    value = sign_session("李 inspector", "inspector", secret)
    session = read_session(value, secret)
    assert session is not None and session.username == "李 inspector" and session.role == "inspector"
    body, mac = value.split(".")
    assert read_session(body + "." + mac[:-2] + ("AA" if not mac.endswith("AA") else "BB"), secret) is None
    assert read_session(value, b"x" * 32) is None
    assert read_session(sign_session("a", "admin", secret, ttl_s=-1), secret) is None


def test_every_asset_is_served_by_the_service(service):
    """No CDN, no external fonts or tiles: templates and static files reference only local URLs."""
    pattern = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.I)
    for file in list((WEB_DIR / "templates").glob("*.html")) + list((WEB_DIR / "static").iterdir()):
        text = file.read_text(encoding="utf-8")
        external = [m for m in pattern.findall(text) if "www.w3.org" not in m]
        assert not external, f"{file.name} references {external}"
    with _client(service) as client:
        for asset in ("/static/app.js", "/static/app.css", "/static/favicon.svg"):
            resp = client.get(asset)
            assert resp.status_code == 200 and len(resp.content) > 100, asset


def test_password_guessing_is_slowed_down(service):
    """The form login spends the same per-client budget as the JSON login (/v1/auth/login): once a
    client has used it up, the form answers 429 with Retry-After instead of checking the password."""
    from serve.api.limits import RateLimiter

    state = service["app"].state.sw
    module_limiter, state.login_limiter = state.login_limiter, RateLimiter(rate=1.0, burst=3)  # 1 a second
    try:
        while state.login_limiter.acquire("login:127.0.0.1") == 0:  # a burst of guesses uses the budget up
            pass
        with _client(service) as client:
            form = {"username": "wang.inspector", "password": PASSWORD, "next": "/"}
            resp = client.post("/login", data=form)
            assert resp.status_code == 429
            assert int(resp.headers["retry-after"]) >= 1 and "too many attempts" in resp.text
            assert COOKIE_NAME not in client.cookies
        time.sleep(1.2)  # the budget refills
        with _login(service) as client:
            assert client.get("/").status_code == 200
    finally:
        state.login_limiter = module_limiter


def test_map_layers_survive_bad_files(tmp_path):
    """A broken or missing layer file gives an empty layer (the map still draws the cases)."""
    from serve.web.layers import road_segment_layer, road_segment_options, zone_polygon_layer

    assert road_segment_layer(tmp_path / "missing")["features"] == []
    assert zone_polygon_layer(tmp_path / "missing")["features"] == []
    (tmp_path / "road_segments.geojson").write_text("{not json", encoding="utf-8")
    (tmp_path / "no_parking.geojson").write_text('{"type": "FeatureCollection", "features": [{"x": 1}]}')
    assert road_segment_layer(tmp_path)["features"] == [] and road_segment_options(tmp_path) == []
    assert zone_polygon_layer(tmp_path)["features"] == []
    write_demo_zones(tmp_path)  # fixed: the next request sees the new file (cache keyed on mtime)
    assert len(road_segment_layer(tmp_path)["features"]) == 4
