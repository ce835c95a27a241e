"""`streetwatch bench load`: simulated patrol vehicles against a real service on loopback, bounded in time.

The service runs as its own process (`streetwatch serve` on a free 127.0.0.1 port, throwaway data
dir). Each simulated vehicle drives a synthetic street (`drive_by_frames`: consecutive 1280x720 frames of
a drive-by rendered by the synthetic generator, each vehicle at its own point of the drive), makes
`fps` frames per second (on schedule, whether or not earlier frames were answered) and POSTs them to
/v1/frames as JPEGs, the JPEG as the request body (`--transport form`: as a multipart form;
`--transport ws`: streamed over one WebSocket per vehicle, streetwatch.bench.load_stream), with at most
`IN_FLIGHT` frames unanswered (the others wait on the vehicle, as a real uploader buffers). A frame
refused with 429/503 + Retry-After is resent after that delay. At the end (the sending time plus
`DRAIN_SECONDS`) every frame is *processed* (a 200), *refused* (every answer it got was an explicit
429/503: the vehicle still holds it and knows when to resend), *held* (not sent yet: the vehicle
paces itself to the `max_fps` the service named in its refusals), or *lost* (no usable answer: a
timeout, a dropped connection, any other error). Lost must be 0.

Reported: frames/s served, latency (p50/p99: from the frame's scheduled send time to its 200,
retries included; and per accepted request), refusals by status, frames lost, and the ratio of
served throughput to the detector's own batch throughput measured in the same run: (a) standalone,
`Detector.detect_batch` on the same JPEGs just before and just after the load (same model and batch
size; the detector at its best: one session on all cores with and without onnxruntime thread spinning,
and one single-threaded session per core side by side; the fastest is the reference), and (b) in the
service, frames / seconds spent inside detector calls (from /metrics). Also reported: the CPU seconds
the service and the load client used (they share the cores), and whether the service was saturated
(when it keeps up, served = offered, and the ratio is bounded by offered / standalone).
The standalone reference runs on the frames decoded in full (what a batch caller hands the detector);
the service decodes each JPEG at the reduced size its model needs (`service_decode`; detector.decode),
or in full with `--full-decode`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from detector.decode import reduction_for
from detector.errors import InputError
from streetwatch.bench.load_stream import Drive, stream_vehicle

DRAIN_SECONDS = 30.0  # after the last scheduled frame, how long refused frames are still resent
IN_FLIGHT = 4  # requests one vehicle has open at once
DRIVE_BY_SEED = 201  # the street the vehicles drive (not a training seed)
DRIVE_BY_FRAMES = 60  # 12 s of driving; vehicle i starts i * 7 frames in, and loops
LOAD_FPS_RENDERED = 5.0
REQUEST_TIMEOUT = 30.0
MULTIPART_BOUNDARY = "streetwatch-load-7d3f"
TRANSPORT_HELP = {
    "image": "POST /v1/frames per frame, the JPEG as the body, metadata in X-Frame-Metadata",
    "form": "POST /v1/frames per frame, a multipart form (image + metadata)",
    "ws": "WS /v1/vehicles/{id}/stream, one connection per vehicle (streetwatch.bench.load_stream)",
}
TRANSPORTS = tuple(TRANSPORT_HELP)


def drive_by_frames(count: int, width: int, height: int, seed: int = DRIVE_BY_SEED) -> list[np.ndarray]:
    """`count` consecutive frames (BGR) of a patrol vehicle driving a synthetic street at 20 km/h, 5 frames/s
    (`streetwatch synth --clip`): real street content in a coherent sequence, so the detector finds
    objects, tracks follow them from frame to frame and end in cases as on a real patrol, and the JPEGs
    have a realistic size. (Unrelated frames in turn would make every object a new track in every
    frame: far more tracks, events and evidence per frame than any drive.)"""
    import cv2

    from datasets.synth.clips import render_pass_frames

    frames = []
    for rgb in render_pass_frames(seed, count / LOAD_FPS_RENDERED, LOAD_FPS_RENDERED)[:count]:
        image = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if image.shape[:2] != (height, width):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        frames.append(image)
    return frames


def encode_jpegs(frames: list[np.ndarray], quality: int = 85) -> list[bytes]:
    import cv2

    out = []
    for frame in frames:
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise InputError("could not encode a synthetic frame")
        out.append(buf.tobytes())
    return out


def decode_jpegs(jpegs: list[bytes]) -> list[np.ndarray]:
    import cv2

    return [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR) for j in jpegs]


def detector_throughput(
    model: Path,
    images: list[np.ndarray],
    batch: int,
    threads: int | None,
    seconds: float,
    spin: bool | None = None,
    sessions: int = 1,
    imgsz: Any = None,
) -> dict:
    """The detector's own batch throughput on these frames (decode excluded), frames/s: `sessions`
    detectors of `threads` onnxruntime threads each, side by side in threads, for `seconds` of wall time,
    at input size `imgsz` (as `detector.model.open_detector` takes it)."""
    import threading

    from detector.model import open_detector

    detectors = [open_detector(model, imgsz, threads=threads, spin=spin) for _ in range(sessions)]
    for detector in detectors:
        detector.detect_batch(images[:batch])  # warm-up
    counts = [0] * sessions
    start = time.perf_counter()
    deadline = start + seconds

    def loop(index: int) -> None:
        i = index * batch
        while time.perf_counter() < deadline:
            detectors[index].detect_batch([images[(i + k) % len(images)] for k in range(batch)])
            i += batch
            counts[index] += batch

    workers = [threading.Thread(target=loop, args=(n,)) for n in range(sessions)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - start
    return {
        "frames": sum(counts),
        "seconds": round(wall, 3),
        "fps": round(sum(counts) / wall, 2),
        "batch": batch,
        "threads": threads or os.cpu_count(),
        "sessions": sessions,
        "spin": bool(spin),
        "input": "x".join(str(v) for v in detectors[0].imgsz),
    }


def best_detector_throughput(
    model: Path, images: list[np.ndarray], batch: int, threads: int | None, seconds: float, imgsz: Any = None
) -> dict:
    """The detector at its best on this machine, whatever the service is set to: one session on all
    cores with and without onnxruntime thread spinning, and one single-threaded session per core."""
    cores = os.cpu_count() or 1
    configs = [(threads, False, 1), (threads, True, 1)]
    if cores > 1:
        configs.append((1, False, cores))
    runs = [
        detector_throughput(model, images, batch, t, seconds / len(configs), spin, sessions, imgsz)
        for t, spin, sessions in configs
    ]
    best = max(runs, key=lambda m: m["fps"])
    return {
        **best,
        "fps_by_config": {
            f"{m['sessions']}x{m['threads']}t spin={str(m['spin']).lower()}": m["fps"] for m in runs
        },
    }


def model_input_shape(model: Path, imgsz: Any) -> tuple[int, int]:
    """The model's input (h, w) at `imgsz`, as the service opens it."""
    from detector.model import open_detector

    return open_detector(model, imgsz, threads=1).imgsz


def multipart_body(meta: str, jpeg: bytes, boundary: str = MULTIPART_BOUNDARY) -> bytes:
    """The /v1/frames form (metadata + image) as one request body. Built here rather than by httpx:
    the load client shares the machine's cores with the service, and every CPU millisecond it spends
    per request is one the service does not get (this is one join instead of httpx's stream pieces)."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n'
        f"Content-Type: application/json\r\n\r\n{meta}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="frame.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    )
    return b"".join((head.encode(), jpeg, f"\r\n--{boundary}--\r\n".encode()))


def request_body(transport: str, meta: str, jpeg: bytes) -> tuple[dict[str, str], bytes]:
    """Headers and body of one POST /v1/frames: the image as the body (metadata in X-Frame-Metadata) or
    the multipart form."""
    if transport == "image":
        return {"Content-Type": "image/jpeg", "X-Frame-Metadata": meta}, jpeg
    return {"Content-Type": f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"}, multipart_body(meta, jpeg)


def frame_metadata(vehicle_id: str, index: int) -> str:
    """The JSON metadata of a vehicle's index-th frame (captured now, a few metres further each frame)."""
    from datetime import UTC, datetime

    return json.dumps(
        {
            "vehicle_id": vehicle_id,
            "frame_id": f"{vehicle_id}-{index}",
            "captured_at": datetime.now(UTC).isoformat(),
            "lat": 31.2304 + index * 1e-5,
            "lon": 121.4737,
            "heading": 90.0,
        }
    )


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return round(ordered[k] * 1000, 1)


class Pacer:
    """A vehicle's sending pace: at most 2x its frame rate (to catch up), slowed to the `max_fps` the
    service names when it refuses a frame, and sped up again a little after every accepted one."""

    def __init__(self, fps: float) -> None:
        self.fastest = 1.0 / (2.0 * fps)
        self.interval = self.fastest
        self.next_slot = 0.0

    async def wait(self, deadline: float) -> bool:
        """Wait for this vehicle's next sending slot; False when that slot is past the deadline."""
        now = time.monotonic()
        slot = max(now, self.next_slot)
        if slot >= deadline:
            return False
        self.next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)
        return True

    def refused(self, max_fps: float | None) -> None:
        # A little above the named share keeps the (bounded) queue from running dry between refusals.
        if max_fps and max_fps > 0:
            self.interval = max(self.interval, 0.8 / max_fps)

    def accepted(self) -> None:
        self.interval = max(self.fastest, self.interval * 0.85)


async def _vehicle(client: Any, drive: Drive, stats: dict, transport: str) -> None:
    """One vehicle: a new frame every 1/fps s; at most IN_FLIGHT requests at once (the rest wait on the
    vehicle, as a real uploader buffers); refused frames are resent after the Retry-After they got."""
    window = asyncio.Semaphore(IN_FLIGHT)
    pacer = Pacer(drive.fps)
    tasks = []
    for i in range(drive.count):
        delay = drive.due(i) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_send(client, window, pacer, drive, i, stats, transport)))
    await asyncio.gather(*tasks)


async def _send(
    client: Any,
    window: asyncio.Semaphore,
    pacer: Pacer,
    drive: Drive,
    index: int,
    stats: dict,
    transport: str,
) -> None:
    """Deliver one frame; its final outcome is processed, refused (still held by the vehicle when the run
    ended: every answer was 429/503 with Retry-After) or lost (no usable answer)."""
    import aiohttp

    headers, body = request_body(transport, frame_metadata(drive.vehicle_id, index), drive.jpeg(index))
    headers["Authorization"] = f"Bearer {drive.key}"
    due = drive.due(index)
    stats["sent"] += 1
    outcome = "held"  # not sent yet: the vehicle was pacing itself to the rate the service named
    while time.monotonic() < stats["deadline"]:
        async with window:
            if not await pacer.wait(stats["deadline"]):
                break  # the run is over; this frame is still on the vehicle
            started = time.monotonic()
            try:
                async with client.post("/v1/frames", data=body, headers=headers) as response:
                    status, text = response.status, await response.text()
                    retry_after = response.headers.get("retry-after")
            except (aiohttp.ClientError, TimeoutError) as exc:  # no answer: resend (idempotent on frame_id)
                stats["transport_errors"] += 1
                stats["last_error"] = f"{type(exc).__name__}: {exc}"[:200]
                outcome = "lost"
                continue
        if status == 200:
            now = time.monotonic()
            stats["processed"] += 1
            stats["end_to_end"].append(now - due)
            stats["request"].append(now - started)
            stats["last_ok"] = max(stats["last_ok"], now)
            stats["duplicates"] += bool(json.loads(text).get("duplicate"))
            pacer.accepted()
            return
        if status in (429, 503) and retry_after is not None:
            stats["refusals"][str(status)] = stats["refusals"].get(str(status), 0) + 1
            outcome = "refused"
            with contextlib.suppress(ValueError):
                pacer.refused(float(json.loads(text).get("max_fps") or 0))
            await asyncio.sleep(max(0.05, float(retry_after)))
            continue
        stats["failed"][str(status)] = stats["failed"].get(str(status), 0) + 1
        stats["last_error"] = text[:200]
        outcome = "lost"
        break
    stats[outcome] += 1


def _from(jpegs: list[bytes], vehicle: int) -> list[bytes]:
    """The drive as vehicle number `vehicle` makes it: starting 7 frames further along than the one before
    (the vehicles are not in lockstep), and looping."""
    start = (vehicle * 7) % len(jpegs)
    return jpegs[start:] + jpegs[:start]


async def _drive(
    url: str,
    keys: dict[str, str],
    jpegs: list[bytes],
    fps: float,
    seconds: float,
    drain: float,
    transport: str = "image",
) -> dict:
    import aiohttp

    stats: dict[str, Any] = {
        "held": 0,
        "sent": 0,
        "processed": 0,
        "refused": 0,
        "lost": 0,
        "duplicates": 0,
        "transport_errors": 0,
        "refusals": {},
        "failed": {},
        "end_to_end": [],
        "request": [],
        "last_ok": 0.0,
    }
    # aiohttp, not httpx: the client shares the machine's cores with the service, and aiohttp's C parser
    # and WebSocket masking spend a fraction of httpx's / websockets' CPU per frame (docs/api.md).
    connector = aiohttp.TCPConnector(limit=len(keys) * IN_FLIGHT)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as client:
        async with client.get("/metrics") as response:
            before = await response.text()
        client_cpu = time.process_time()
        t0 = time.monotonic() + 0.5
        stats["deadline"] = t0 + seconds + drain
        drives = [Drive(v, key, _from(jpegs, k), fps, seconds, t0) for k, (v, key) in enumerate(keys.items())]
        if transport == "ws":
            vehicles = [
                stream_vehicle(client, d, stats, Pacer(fps), frame_metadata, IN_FLIGHT, REQUEST_TIMEOUT)
                for d in drives
            ]
        else:
            vehicles = [_vehicle(client, d, stats, transport) for d in drives]
        await asyncio.gather(*vehicles)
        stats["client_cpu_seconds"] = time.process_time() - client_cpu
        async with client.get("/metrics") as response:
            after = await response.text()
    stats["t0"] = t0
    stats["metrics_before"], stats["metrics_after"] = before, after
    return stats


def _cpu_beyond_detector(service_cpu: float, processed: int, standalone: dict[str, Any]) -> dict[str, Any]:
    """CPU per frame that the detector at its best needs (standalone: its cores / its frames per second)
    and what the service spent per frame beyond that (decoding, HTTP, tracking, evidence, store). When
    the service is saturated, ratio_served_to_standalone ~ detector / (detector + beyond)."""
    fps = standalone.get("fps") or 0.0
    if not processed or fps <= 0:
        return {}
    detector_ms = 1000.0 * standalone.get("sessions", 1) * standalone.get("threads", 1) / fps
    return {
        "detector_standalone_per_frame_ms": round(detector_ms, 2),
        "beyond_detector_per_frame_ms": round(1000.0 * service_cpu / processed - detector_ms, 2),
    }


def run_load_test(
    vehicles: int = 8,
    fps: float = 5.0,
    seconds: float = 60.0,
    width: int = 1280,
    height: int = 720,
    model: Path | None = None,
    max_batch: int | None = None,
    threads: int | None = None,
    workers: int | None = None,
    standalone_seconds: float = 8.0,
    drain_seconds: float = DRAIN_SECONDS,
    reduced_decode: bool = True,
    transport: str = "image",
) -> dict[str, Any]:
    """Run the load test; returns the report (see the module docstring)."""
    import httpx

    if transport not in TRANSPORTS:
        raise InputError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
    from serve.api.bootstrap import read_credentials
    from serve.settings import load_settings
    from streetwatch.bench.server_process import ServiceProcess

    batching = {k: v for k, v in (("max_batch", max_batch), ("workers", workers)) if v}
    settings = load_settings(model_path=model, batching=batching or None, threads=threads)
    if not Path(settings.model_path).is_file():
        raise InputError("model not found (train/export it, or pass --model)", settings.model_path)
    # the reference runs at the service's input size too
    service_imgsz = settings.pipeline.detector.imgsz
    model_shape = model_input_shape(Path(settings.model_path), service_imgsz)
    decode_factor = reduction_for(width, height, model_shape) if reduced_decode else 1
    jpegs = encode_jpegs(drive_by_frames(DRIVE_BY_FRAMES, width, height))
    images = decode_jpegs(jpegs)  # what the standalone reference runs on (decoding is not timed)
    batch = settings.batching.max_batch
    ort_threads = settings.threads or None
    with tempfile.TemporaryDirectory(prefix="streetwatch-load-") as tmp:
        env = {
            "STREETWATCH_MODEL_PATH": str(Path(settings.model_path).resolve()),
            "STREETWATCH_BATCHING__MAX_BATCH": str(batch),
            "STREETWATCH_BATCHING__WORKERS": str(settings.batching.workers),
            "STREETWATCH_LIMITS__RATE_PER_KEY": str(max(10.0, fps * 4)),
            "STREETWATCH_LIMITS__BURST_PER_KEY": str(int(max(20, fps * 8))),
            "STREETWATCH_JOB_WORKERS": "0",
            "STREETWATCH_REDUCED_DECODE": "true" if reduced_decode else "false",
        }
        if settings.threads:
            env["STREETWATCH_THREADS"] = str(settings.threads)
        for name in ("STREETWATCH_CONFIG",):
            os.environ.pop(name, None)
        with ServiceProcess(Path(tmp) / "data", env=env) as service:
            before_load = best_detector_throughput(
                Path(settings.model_path), images, batch, ort_threads, standalone_seconds, service_imgsz
            )
            admin = read_credentials(service.data_dir / "credentials.txt")["admin_api_key"]
            keys = {}
            for i in range(vehicles):
                vid = f"LOAD-{i + 1}"
                response = httpx.post(
                    service.url + "/v1/admin/keys",
                    headers={"Authorization": f"Bearer {admin}"},
                    json={"name": vid, "role": "vehicle", "vehicle_id": vid},
                    timeout=10,
                )
                response.raise_for_status()
                keys[vid] = response.json()["key"]
            wall_start = time.monotonic()
            stats = asyncio.run(_drive(service.url, keys, jpegs, fps, seconds, drain_seconds, transport))
            wall = time.monotonic() - wall_start
            after_load = best_detector_throughput(
                Path(settings.model_path), images, batch, ort_threads, standalone_seconds, service_imgsz
            )
    # The machine may be busier before or after: the faster of the two measurements is the reference.
    standalone = max(before_load, after_load, key=lambda m: m["fps"])
    standalone = {**standalone, "before_load_fps": before_load["fps"], "after_load_fps": after_load["fps"]}
    before, after = stats["metrics_before"], stats["metrics_after"]
    det_frames = _metric(after, "streetwatch_detector_frames_total") - _metric(
        before, "streetwatch_detector_frames_total"
    )
    det_busy = _metric(after, "streetwatch_detector_busy_seconds_total") - _metric(
        before, "streetwatch_detector_busy_seconds_total"
    )
    batches = _metric(after, "streetwatch_detector_batch_size_count") - _metric(
        before, "streetwatch_detector_batch_size_count"
    )
    service_cpu = _metric(after, "process_cpu_seconds_total") - _metric(before, "process_cpu_seconds_total")
    span = max(stats["last_ok"] - stats["t0"], 1e-9) if stats["processed"] else wall
    served_fps = stats["processed"] / span
    # busy seconds add up over the detector workers, which run side by side
    in_service_fps = settings.batching.workers * det_frames / det_busy if det_busy > 0 else 0.0
    return {
        "command": f"streetwatch bench load --vehicles {vehicles} --fps {fps:g} --seconds {seconds:g}"
        + ("" if reduced_decode else " --full-decode")
        + ("" if transport == "image" else f" --transport {transport}"),
        "transport": TRANSPORT_HELP[transport],
        "model": str(settings.model_path),
        "frame_size": f"{width}x{height}",
        "service_decode": (
            f"1/{decode_factor} size (the model's input {model_shape[1]}x{model_shape[0]} needs no more)"
            if decode_factor > 1
            else "full size"
        ),
        "jpeg_bytes_mean": int(statistics.mean(len(j) for j in jpegs)),
        "vehicles": vehicles,
        "fps_per_vehicle": fps,
        "offered_fps": vehicles * fps,
        "seconds": seconds,
        "frames_sent": stats["sent"],
        "frames_processed": stats["processed"],
        "frames_refused_at_end": stats["refused"],
        "frames_held_by_vehicles_at_end": stats["held"],
        "frames_lost": stats["lost"],
        "refusals": stats["refusals"],
        "failures": stats["failed"],
        "transport_errors": stats["transport_errors"],
        "served_fps": round(served_fps, 2),
        "latency_ms_end_to_end": {
            "p50": _percentile(stats["end_to_end"], 50),
            "p99": _percentile(stats["end_to_end"], 99),
        },
        "latency_ms_accepted_request": {
            "p50": _percentile(stats["request"], 50),
            "p99": _percentile(stats["request"], 99),
        },
        "detector_standalone": standalone,
        "detector_in_service": {
            "workers": settings.batching.workers,
            "threads_per_worker": settings.detector_threads(),
            "frames": int(det_frames),
            "busy_seconds": round(det_busy, 2),
            "fps": round(in_service_fps, 2),
            "mean_batch": round(det_frames / batches, 2) if batches else None,
        },
        "cpu_seconds": {
            "wall": round(wall, 2),
            "cores": os.cpu_count(),
            "service": round(service_cpu, 2),
            "load_client": round(stats["client_cpu_seconds"], 2),
            "service_per_processed_frame_ms": round(1000 * service_cpu / stats["processed"], 2)
            if stats["processed"]
            else None,
            "load_client_per_frame_ms": round(1000 * stats["client_cpu_seconds"] / max(1, stats["sent"]), 2),
            **_cpu_beyond_detector(service_cpu, stats["processed"], standalone),
        },
        "saturated": bool(stats["refusals"]) or served_fps < 0.95 * vehicles * fps,
        "ratio_served_to_standalone": round(served_fps / standalone["fps"], 3) if standalone["fps"] else None,
        "ratio_offered_to_standalone": (
            round(vehicles * fps / standalone["fps"], 3) if standalone["fps"] else None
        ),
        "ratio_served_to_in_service": round(served_fps / in_service_fps, 3) if in_service_fps else None,
        "last_error": stats.get("last_error"),
    }
