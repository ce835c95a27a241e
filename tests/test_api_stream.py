"""The vehicle WebSocket: metadata + binary frame, one ack per frame id, slow_down instead of queueing."""

from __future__ import annotations

import json
import time

import pytest
from api_support import frame_metadata
from starlette.websockets import WebSocketDisconnect


def test_each_frame_is_acked_and_resends_are_duplicates(make_service, bus_jpeg):
    svc = make_service()
    headers = {"X-API-Key": svc.key("vehicle", "V1")}
    with svc.client.websocket_connect("/v1/vehicles/V1/stream", headers=headers) as ws:
        for i in range(3):
            ws.send_text(frame_metadata("V1", f"w{i}"))
            ws.send_bytes(bus_jpeg)
            ack = ws.receive_json()
            assert ack["type"] == "ack"
            assert ack["frame_id"] == f"w{i}"
            assert ack["duplicate"] is False
            assert {d["class_name"] for d in ack["detections"]} >= {"bus"}
    with svc.client.websocket_connect("/v1/vehicles/V1/stream", headers=headers) as ws:  # reconnect, resend
        ws.send_text(frame_metadata("V1", "w2"))
        ws.send_bytes(bus_jpeg)
        ack = ws.receive_json()
        assert ack["type"] == "ack" and ack["frame_id"] == "w2" and ack["duplicate"] is True
        # a frame that can never succeed gets an error for its frame id, the stream stays open
        ws.send_text(frame_metadata("V1", "bad"))
        ws.send_bytes(b"not an image at all")
        error = ws.receive_json()
        assert error == {**error, "type": "error", "frame_id": "bad", "status": 400}
        ws.send_text(json.dumps({"frame_id": "m1"}))
        assert ws.receive_json()["status"] == 422


def test_frames_sent_before_a_dropped_connection_are_processed_and_resends_are_duplicates(
    make_service, bus_jpeg
):
    svc = make_service()
    headers = {"X-API-Key": svc.key("vehicle", "V2")}
    sent = [f"d{i}" for i in range(3)]
    with svc.client.websocket_connect("/v1/vehicles/V2/stream", headers=headers) as ws:
        for frame_id in sent:  # the connection drops before any ack is read
            ws.send_text(frame_metadata("V2", frame_id))
            ws.send_bytes(bus_jpeg)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(
        svc.store.idempotency.get_frame_answer("V2", f) is None for f in sent
    ):
        time.sleep(0.05)
    assert all(svc.store.idempotency.get_frame_answer("V2", f) is not None for f in sent)
    with svc.client.websocket_connect("/v1/vehicles/V2/stream", headers=headers) as ws:
        for frame_id in sent:  # the vehicle resends what it has no ack for
            ws.send_text(frame_metadata("V2", frame_id))
            ws.send_bytes(bus_jpeg)
            ack = ws.receive_json()
            assert ack["type"] == "ack" and ack["frame_id"] == frame_id and ack["duplicate"] is True


def test_slow_down_when_the_stream_window_is_full(make_service, bus_jpeg):
    svc = make_service(limits={"stream_queue_depth": 1, "rate_per_key": 1000, "burst_per_key": 1000})
    headers = {"X-API-Key": svc.key("vehicle", "V3")}
    sent = [f"s{i}" for i in range(6)]
    with svc.client.websocket_connect("/v1/vehicles/V3/stream", headers=headers) as ws:
        for frame_id in sent:  # as fast as possible, without waiting for acks
            ws.send_text(frame_metadata("V3", frame_id))
            ws.send_bytes(bus_jpeg)
        answers = [ws.receive_json() for _ in sent]
    assert sorted(a["frame_id"] for a in answers) == sorted(sent)  # exactly one answer per frame
    kinds = {a["frame_id"]: a["type"] for a in answers}
    assert kinds["s0"] == "ack"
    slow = [a for a in answers if a["type"] == "slow_down"]
    assert slow, answers
    assert all(a["max_fps"] >= 0 and a["retry_after"] > 0 for a in slow)
    for a in slow:  # refused frames were not processed: the vehicle must resend them
        assert svc.store.idempotency.get_frame_answer("V3", a["frame_id"]) is None


def test_stream_auth(make_service, bus_jpeg):
    svc = make_service()
    with svc.client.websocket_connect("/v1/vehicles/V1/stream") as ws:
        assert ws.receive_json()["status"] == 401
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401
    other = {"X-API-Key": svc.key("vehicle", "V2")}
    with svc.client.websocket_connect("/v1/vehicles/V1/stream", headers=other) as ws:
        assert ws.receive_json()["status"] == 403
    with svc.client.websocket_connect(f"/v1/vehicles/V2/stream?api_key={svc.key('vehicle', 'V2')}") as ws:
        ws.send_text(frame_metadata("V1", "x1"))  # metadata for another vehicle on this stream
        assert ws.receive_json()["status"] == 403
