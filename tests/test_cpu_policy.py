"""The threads that decode, track and store live frames yield the CPU to the model (SCHED_BATCH, Linux)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
from api_support import frame_metadata

from serve.api.cpu_policy import yield_to_detector

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")


def thread_policy() -> int:
    """The calling thread's scheduling policy (os.SCHED_*)."""
    return os.sched_getscheduler(0)


def _in_new_thread(work) -> int | None:
    """Run `work` in a fresh thread under the normal policy; that thread's policy afterwards."""
    seen: dict[str, int | None] = {}

    def run() -> None:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))  # not whatever its creator had
        work()
        seen["policy"] = thread_policy()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return seen["policy"]


def _policy_in(pool) -> int:
    """The policy of a thread of the live service's `pool`; a thread the pool starts for this call
    starts from the normal policy, not from whatever the test's own thread has."""
    seen: dict[str, int] = {}

    def run() -> None:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        seen["policy"] = pool.submit(thread_policy).result()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return seen["policy"]


def _batch_threads() -> set[int]:
    """This process's threads under SCHED_BATCH (field 41 of /proc/self/task/*/stat)."""
    found = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        if int(fields[41 - 3]) == os.SCHED_BATCH:
            found.add(int(task.name))
    return found


def test_a_worker_thread_yields_and_its_caller_keeps_its_policy() -> None:
    caller = thread_policy()
    assert _in_new_thread(yield_to_detector) == os.SCHED_BATCH
    assert _in_new_thread(lambda: None) == os.SCHED_OTHER
    assert thread_policy() == caller


def test_live_frames_are_decoded_and_stored_on_threads_that_yield(make_service, bus_jpeg) -> None:
    svc = make_service()
    headers = svc.auth("vehicle", "V1")
    caller = thread_policy()
    answer = svc.client.post(
        "/v1/frames",
        content=bus_jpeg,
        headers={**headers, "Content-Type": "image/jpeg", "X-Frame-Metadata": frame_metadata("V1", "p-1")},
    )
    assert answer.status_code == 200, answer.text
    assert _batch_threads(), "the frame's decode and pipeline ran on threads under the normal policy"
    assert thread_policy() == caller  # the test's own thread was not touched

    live = svc.app.state.sw.live
    assert _policy_in(live._decoders) == os.SCHED_BATCH
    assert _policy_in(live._pipeline_thread) == os.SCHED_BATCH


def test_with_the_setting_off_the_live_threads_keep_the_normal_policy(make_service) -> None:
    live = make_service(yield_cpu_to_detector=False).app.state.sw.live
    assert _policy_in(live._decoders) == os.SCHED_OTHER
    assert _policy_in(live._pipeline_thread) == os.SCHED_OTHER


def test_the_setting_reaches_the_live_service(make_service) -> None:
    assert make_service(yield_cpu_to_detector=False).app.state.sw.live.yield_cpu is False


def test_the_service_sets_how_long_a_thread_may_hold_the_interpreter_lock(make_service) -> None:
    before = sys.getswitchinterval()
    try:
        make_service(gil_switch_interval_ms=2.5)
        assert sys.getswitchinterval() == pytest.approx(0.0025)
    finally:
        sys.setswitchinterval(before)
