"""Helpers for the service tests (test_api_*.py, test_service_restart.py, test_from_reviews.py).

Cases from real detections need a model and footage it recognises: the COCO export (tests/conftest.py)
with a taxonomy made from its own class names, and a short clip panned over Ultralytics' bundled
`bus.jpg` (a bus and people: the COCO model finds them in every frame), with a GPS track.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
LAT0, LON0 = 31.2300, 121.4700


def bus_image() -> np.ndarray | None:
    """Ultralytics' sample photo (installed with the training extra), or None."""
    import importlib.util

    import cv2

    spec = importlib.util.find_spec("ultralytics")  # located, not imported (importing it patches PIL/cv2)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "assets" / "bus.jpg"
    return cv2.imread(str(path)) if path.is_file() else None


def coco_taxonomy(model_path: Path, out: Path) -> Path:
    """A taxonomy whose classes are the model's own (spaces -> _), each a violation with a test code."""
    from detector.model import Detector

    names = Detector(model_path, threads=1).names
    classes = [
        {
            "name": name.replace(" ", "_"),
            "id": i,
            "zh": name,
            "en": name,
            "matter_code": f"T{i:03d}",
            "violation": True,
            "severity": 1,
            "default_deadline_hours": 4,
        }
        for i, name in enumerate(names)
    ]
    out.write_text(yaml.safe_dump({"version": "coco-test", "classes": classes}), encoding="utf-8")
    return out


def pan_frames(image: np.ndarray, count: int, size: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    """`count` frames of a slow pan over `image` (the scene drifts 2 px per frame, like driving by)."""
    import cv2

    w, h = size
    scale = h / image.shape[0] * 1.0
    big = cv2.resize(image, (int(image.shape[1] * scale) + count * 2, h))
    frames = []
    for i in range(count):
        x = min(i * 2, big.shape[1] - w) if big.shape[1] > w else 0
        crop = big[:, x : x + w]
        if crop.shape[1] < w:
            crop = cv2.copyMakeBorder(
                crop, 0, 0, 0, w - crop.shape[1], cv2.BORDER_CONSTANT, value=(90, 90, 90)
            )
        frames.append(np.ascontiguousarray(crop))
    return frames


def write_clip(folder: Path, frames: list[np.ndarray], fps: int = 5) -> tuple[Path, Path]:
    """clip.mp4 (H.264 via PyAV) and track.csv (a vehicle driving east at 2 m/s)."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    video = folder / "clip.mp4"
    with av.open(str(video), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "20"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    rows = ["time,lat,lon,heading"]
    for k in range(len(frames) + fps):
        east = 2.0 * k / fps
        rows.append(f"{k / fps:.3f},{LAT0:.8f},{LON0 + east / 95_000:.8f},90")
    track = folder / "track.csv"
    track.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return video, track


def jpeg_bytes(image: np.ndarray, quality: int = 85) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def frame_metadata(vehicle_id: str, frame_id: str, **extra) -> str:
    meta = {
        "vehicle_id": vehicle_id,
        "frame_id": frame_id,
        "captured_at": datetime.now(UTC).isoformat(),
        "lat": LAT0,
        "lon": LON0,
        "heading": 90.0,
        **extra,
    }
    return json.dumps(meta)


def case_signature(cases: list[dict]) -> list[tuple]:
    """What must be equal between two runs: class, place (to ~1 m), observations, status."""
    return sorted(
        (
            c["class_name"],
            c["matter_code"],
            round(c["lat"], 5),
            round(c["lon"], 5),
            c["observation_count"],
            c["status"],
        )
        for c in cases
    )


# ---- fixtures (imported by the service test modules) ------------------------------------------------
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def service_model(coco_onnx_path: Path) -> Path:
    """The model the service tests run: the COCO export (its taxonomy is generated to match it)."""
    return coco_onnx_path


@pytest.fixture(scope="session")
def service_taxonomy(service_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return coco_taxonomy(service_model, tmp_path_factory.mktemp("taxonomy") / "coco-taxonomy.yaml")


@pytest.fixture(scope="session")
def bus_jpeg() -> bytes:
    image = bus_image()
    if image is None:
        pytest.skip("ultralytics' bus.jpg not installed (training extra)")
    return jpeg_bytes(image)


@pytest.fixture(scope="session")
def bus_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    image = bus_image()
    if image is None:
        pytest.skip("ultralytics' bus.jpg not installed (training extra)")
    return write_clip(tmp_path_factory.mktemp("clip"), pan_frames(image, 20, (320, 240)))


class Service:
    """An app built by create_app on a fresh data dir, with a TestClient and ready-made keys."""

    def __init__(self, app, client, settings) -> None:
        from serve.api.bootstrap import read_credentials

        self.app, self.client, self.settings = app, client, settings
        creds = read_credentials(settings.credentials_file)
        self.admin_key = creds["admin_api_key"]
        self.inspector_login = creds["inspector_login"].split(":", 1)
        self.keys: dict[str, str] = {}

    @property
    def store(self):
        return self.app.state.sw.store

    def key(self, role: str, vehicle_id: str | None = None) -> str:
        name = f"{role}-{vehicle_id}" if vehicle_id else f"{role}-key"
        if name not in self.keys:
            self.keys[name] = self.store.access.create_api_key(name, role, vehicle_id)[1]
        return self.keys[name]

    def auth(self, role: str = "admin", vehicle_id: str | None = None) -> dict[str, str]:
        key = self.admin_key if role == "admin" else self.key(role, vehicle_id)
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def make_service(tmp_path_factory, service_model, service_taxonomy):
    """Factory: make_service(**settings overrides) -> Service; all are shut down at module end."""
    from fastapi.testclient import TestClient

    from serve.api import create_app
    from serve.settings import load_settings

    made = []

    def factory(**overrides) -> Service:
        values = {
            "data_dir": tmp_path_factory.mktemp("data"),
            "model_path": service_model,
            "taxonomy": service_taxonomy,
            "pipeline": {"detector": {"imgsz": 320}},
            "threads": 1,
            **overrides,
        }
        settings = load_settings(**values)
        app = create_app(settings)
        client = TestClient(app)
        client.__enter__()
        made.append(client)
        return Service(app, client, settings)

    yield factory
    for client in made:
        client.__exit__(None, None, None)


def make_event(
    key: str,
    class_name: str,
    matter_code: str,
    lat: float,
    lon: float,
    *,
    class_id: int = 0,
    vehicle_id: str = "veh-1",
    road_segment_id: str | None = None,
    deadline=None,
    seed: int = 1,
):
    """A ViolationEvent as the pipeline makes them (evidence JPEGs included), for seeding a store."""
    from datetime import timedelta

    from detector.types import Detection, ViolationEvent

    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    at = datetime.now(UTC) - timedelta(minutes=5)
    return ViolationEvent(
        event_key=key,
        class_name=class_name,
        matter_code=matter_code,
        score=0.8,
        hits=6,
        first_seen=at,
        last_seen=at + timedelta(seconds=3),
        vehicle_id=vehicle_id,
        lat=lat,
        lon=lon,
        position_source="ground",
        detection=Detection(40, 30, 100, 90, 0.8, class_id, class_name),
        evidence_jpeg=jpeg_bytes(frame),
        crop_jpeg=jpeg_bytes(frame[24:96, 34:106]),
        frame_index=3,
        source=f"clip-{key}",
        road_segment_id=road_segment_id,
        road_name=road_segment_id and f"Road {road_segment_id}",
        responsible_unit=road_segment_id and "District unit",
        deadline=deadline,
    )
