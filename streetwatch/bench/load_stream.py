"""The load test's WebSocket vehicle: one `/v1/vehicles/{id}/stream` connection per vehicle.

The HTTP vehicle (streetwatch.bench.load) makes one request per frame; this one keeps a single connection
open, as a patrol camera streaming live does, and follows the stream protocol (docs/api.md): metadata
text message + binary JPEG per frame, at most `in_flight` frames unacknowledged, a `slow_down` frame
resent after its `retry_after` and the pace lowered to its `max_fps`. Each frame ends as processed
(acked), refused (its last answer was slow_down and the run ended before the resend got through),
held (never sent: the vehicle was pacing itself) or lost (sent, and no answer, an error answer, or
the connection dropped).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Drive:
    """One simulated vehicle's part of a load test: `fps` frames a second for `seconds` from `t0`
    (monotonic clock), the JPEGs of its drive in order (looping)."""

    vehicle_id: str
    key: str
    jpegs: list[bytes]
    fps: float
    seconds: float
    t0: float

    @property
    def count(self) -> int:
        return int(self.seconds * self.fps)

    def due(self, index: int) -> float:
        """When frame `index` is made (and due to be sent)."""
        return self.t0 + index / self.fps

    def jpeg(self, index: int) -> bytes:
        return self.jpegs[index % len(self.jpegs)]


async def stream_vehicle(
    session: Any,
    drive: Drive,
    stats: dict,
    pacer: Any,
    metadata: Callable[[str, int], str],
    in_flight: int,
    answer_timeout: float,
) -> None:
    """Stream the drive's frames (one every 1/fps s from t0) over `session` (an aiohttp ClientSession on
    the service's URL) and record each frame's outcome in `stats` (the same keys as the HTTP vehicle's)."""
    import aiohttp

    count, vehicle_id = drive.count, drive.vehicle_id
    deadline = stats["deadline"]
    ready: asyncio.Queue[int] = asyncio.Queue()  # frames to send: new ones and resends
    window = asyncio.Semaphore(in_flight)
    pending: dict[str, tuple[int, float]] = {}  # frame_id -> (index, sent at), awaiting an answer
    outcome: dict[int, str] = {}  # index -> processed / refused / lost
    finished = asyncio.Event()
    stats["sent"] += count
    ws_path = f"/v1/vehicles/{vehicle_id}/stream"

    settled = 0  # frames with a final answer (processed or lost); each gets exactly one

    def settle(index: int, result: str) -> None:
        nonlocal settled
        outcome[index] = result
        settled += 1
        if settled == count:
            finished.set()

    async def produce() -> None:
        for index in range(count):
            delay = drive.due(index) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            ready.put_nowait(index)

    async def send_frames(ws: Any) -> None:
        while True:
            index = await ready.get()
            await window.acquire()
            if not await pacer.wait(deadline):
                window.release()
                return  # this frame and the ones still waiting stay on the vehicle
            frame_id = f"{vehicle_id}-{index}"
            pending[frame_id] = (index, time.monotonic())
            await ws.send_str(metadata(vehicle_id, index))
            await ws.send_bytes(drive.jpeg(index))

    async def receive_answers(ws: Any) -> None:
        loop = asyncio.get_running_loop()
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            answer = json.loads(message.data)
            sent = pending.pop(str(answer.get("frame_id")), None)
            if sent is None:  # an error about no frame in particular
                stats["last_error"] = str(answer)[:200]
                continue
            index, sent_at = sent
            window.release()
            kind = answer.get("type")
            if kind == "ack":
                now = time.monotonic()
                stats["end_to_end"].append(now - drive.due(index))
                stats["request"].append(now - sent_at)
                stats["last_ok"] = max(stats["last_ok"], now)
                stats["duplicates"] += bool(answer.get("duplicate"))
                pacer.accepted()
                settle(index, "processed")
            elif kind == "slow_down":
                stats["refusals"]["slow_down"] = stats["refusals"].get("slow_down", 0) + 1
                pacer.refused(float(answer.get("max_fps") or 0))
                outcome[index] = "refused"
                loop.call_later(max(0.05, float(answer.get("retry_after") or 1)), ready.put_nowait, index)
            else:
                status = str(answer.get("status"))
                stats["failed"][status] = stats["failed"].get(status, 0) + 1
                stats["last_error"] = str(answer.get("detail"))[:200]
                settle(index, "lost")

    try:
        async with session.ws_connect(
            ws_path, headers={"Authorization": f"Bearer {drive.key}"}, max_msg_size=0
        ) as ws:
            tasks = [asyncio.create_task(coro) for coro in (produce(), send_frames(ws), receive_answers(ws))]
            waiter = asyncio.create_task(finished.wait())
            await asyncio.wait(
                [waiter, tasks[2]],
                timeout=max(0.0, deadline - time.monotonic()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task in (tasks[0], tasks[1], waiter):
                task.cancel()
            # frames on the wire when the run ended still get their answer (as an HTTP request in flight)
            give_up = time.monotonic() + answer_timeout
            while pending and not tasks[2].done() and time.monotonic() < give_up:
                await asyncio.sleep(0.05)
            tasks[2].cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            errors = [r for r in results if isinstance(r, Exception)]  # CancelledError is not one
            if errors:
                raise errors[0]
    except (OSError, aiohttp.ClientError) as exc:  # a dropped stream: what was sent is lost
        stats["transport_errors"] += 1
        stats["last_error"] = f"{type(exc).__name__}: {exc}"[:200]
    for index, _ in pending.values():
        outcome[index] = "lost"  # sent, never answered
    for index in range(count):
        stats[outcome.get(index, "held")] += 1  # processed, refused, held or lost
