"""The case lifecycle: only the city loop's transitions are allowed, and every action is recorded."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
import sqlalchemy as sa
from store_events import make_event

from serve.store import Action, ActionError, CaseNotFound, CaseStatus, CaseStore, TransitionError
from serve.store.lifecycle import TRANSITIONS, allowed_actions, check_transition, next_status

S = CaseStatus
# The loop as the city describes it (city-management.md), written out independently of TRANSITIONS.
EXPECTED_MOVES = {
    (S.pending_review, S.confirmed),
    (S.pending_review, S.rejected),
    (S.pending_review, S.voided),
    (S.confirmed, S.dispatched),
    (S.confirmed, S.voided),
    (S.dispatched, S.handled),
    (S.dispatched, S.voided),
    (S.handled, S.verified),
    (S.handled, S.dispatched),
    (S.verified, S.closed),
    (S.rejected, S.pending_review),
    (S.closed, S.pending_review),
    (S.voided, S.pending_review),
}
# Shortest action path from a new case to each state.
PATH_TO = {
    S.pending_review: [],
    S.confirmed: ["confirm"],
    S.rejected: ["reject"],
    S.voided: ["void"],
    S.dispatched: ["confirm", "dispatch"],
    S.handled: ["confirm", "dispatch", "handle"],
    S.verified: ["confirm", "dispatch", "handle", "verify"],
    S.closed: ["confirm", "dispatch", "handle", "verify", "close"],
}
NOTES = {"reject": "not a violation", "void": "duplicate report", "reopen": "seen again"}


def test_transition_table_is_the_city_loop() -> None:
    moves = {
        (a, b) for a, b in itertools.permutations(S, 2) if any(m.get(a) == b for m in TRANSITIONS.values())
    }
    assert moves == EXPECTED_MOVES


@pytest.mark.parametrize(
    ("from_status", "to_status"), sorted(set(itertools.permutations(S, 2)) - EXPECTED_MOVES)
)
def test_every_forbidden_transition_is_refused_naming_both_states(from_status, to_status) -> None:
    with pytest.raises(TransitionError) as info:
        check_transition(from_status, to_status)
    assert from_status.value in str(info.value) and to_status.value in str(info.value)


def test_correct_keeps_the_state_only_before_dispatch() -> None:
    assert next_status(S.pending_review, "correct") is S.pending_review
    assert next_status(S.confirmed, "correct") is S.confirmed
    for status in set(S) - {S.pending_review, S.confirmed}:
        with pytest.raises(TransitionError):
            next_status(status, "correct")


def test_allowed_actions_for_buttons() -> None:
    assert set(allowed_actions(S.pending_review)) == {
        Action.confirm,
        Action.reject,
        Action.correct,
        Action.void,
    }
    assert set(allowed_actions(S.handled)) == {Action.verify, Action.dispatch}
    assert allowed_actions(S.closed) == [Action.reopen]


@pytest.fixture
def store(tmp_path):
    s = CaseStore.open(f"sqlite:///{tmp_path / 'cases.db'}", tmp_path / "evidence")
    yield s
    s.close()


def _new_case(store: CaseStore, key: str = "e1") -> int:
    return store.cases.ingest_event(make_event(key)).case.id


def _walk(store: CaseStore, case_id: int, actions: list[str]) -> None:
    for action in actions:
        store.cases.apply_action(case_id, action, "inspector-a", NOTES.get(action))


def test_full_loop_and_history_records_who_when_and_previous_state(store: CaseStore) -> None:
    case_id = _new_case(store)
    steps = [
        ("confirm", "alice", None, {}),
        ("dispatch", "alice", None, {"unit": "Jing'an street office"}),
        ("handle", "unit-7", "stall removed", {}),
        ("dispatch", "bob", "still there", {}),  # rework
        ("handle", "unit-7", "removed again", {}),
        ("verify", "carol", None, {}),
        ("close", "carol", None, {}),
        ("reopen", "dave", "stall is back", {}),
    ]
    for action, actor, note, data in steps:
        store.cases.apply_action(case_id, action, actor, note, **data)
    case = store.cases.get_case(case_id)
    assert case.status is S.pending_review and case.closed_at is None
    assert case.responsible_unit == "Jing'an street office"
    history = store.cases.get_history(case_id)
    assert [h.action for h in history] == ["created"] + [s[0] for s in steps]
    assert [h.actor for h in history[1:]] == [s[1] for s in steps]
    assert [h.note for h in history[1:]] == [s[2] for s in steps]
    expected_from = [
        S.pending_review,
        S.confirmed,
        S.dispatched,
        S.handled,
        S.dispatched,
        S.handled,
        S.verified,
        S.closed,
    ]
    assert [h.from_status for h in history[1:]] == expected_from
    assert [h.to_status for h in history[1:-1]] == expected_from[1:]
    assert all(later.at >= earlier.at for earlier, later in itertools.pairwise(history))
    assert history[2].data["changes"]["responsible_unit"]["to"] == "Jing'an street office"


@pytest.mark.parametrize("status", list(S))
def test_each_forbidden_action_is_refused_by_the_store_and_changes_nothing(store: CaseStore, status) -> None:
    case_id = _new_case(store)
    _walk(store, case_id, PATH_TO[status])
    before = store.cases.get_case(case_id)
    history_before = store.cases.get_history(case_id)
    refused = [a for a in Action if status not in TRANSITIONS[a]]
    assert refused
    for action in refused:
        with pytest.raises(TransitionError) as info:
            store.cases.apply_action(case_id, action, "mallory", "some reason", class_name="exposed_garbage")
        assert status.value in str(info.value) and action.value in str(info.value)
    assert store.cases.get_case(case_id) == before
    assert store.cases.get_history(case_id) == history_before


def test_reasons_and_data_are_required(store: CaseStore) -> None:
    case_id = _new_case(store)
    for action in ("reject", "void"):
        with pytest.raises(ActionError, match="reason"):
            store.cases.apply_action(case_id, action, "alice")
        with pytest.raises(ActionError, match="reason"):
            store.cases.apply_action(case_id, action, "alice", "   ")
    with pytest.raises(ActionError, match="class_name"):
        store.cases.apply_action(case_id, "correct", "alice")
    with pytest.raises(ActionError, match="context class"):
        store.cases.apply_action(case_id, "correct", "alice", class_name="vehicle")
    with pytest.raises(ActionError, match="unknown action"):
        store.cases.apply_action(case_id, "approve", "alice")
    with pytest.raises(ActionError, match="actor"):
        store.cases.apply_action(case_id, "confirm", "")
    with pytest.raises(CaseNotFound):
        store.cases.apply_action(999, "confirm", "alice")
    assert store.cases.get_case(case_id).status is S.pending_review
    rejected = store.cases.apply_action(case_id, "reject", "alice", reason="a parked delivery, not a stall")
    assert rejected.status is S.rejected and rejected.closed_at is not None
    assert store.cases.get_history(case_id)[-1].note == "a parked delivery, not a stall"


def test_correct_changes_class_code_and_deadline(store: CaseStore) -> None:
    case_id = store.cases.ingest_event(make_event("e1", area_class="A")).case.id
    before = store.cases.get_case(case_id)
    assert before.deadline - before.created_at == timedelta(hours=2)  # vending, area A
    after = store.cases.apply_action(
        case_id, "correct", "alice", "bags, not a stall", class_name="exposed_garbage"
    )
    assert (after.class_name, after.matter_code, after.class_en) == (
        "exposed_garbage",
        "06010",
        "Exposed garbage",
    )
    assert after.status is S.pending_review
    assert after.deadline - after.created_at == timedelta(hours=1)  # exposed garbage, area A
    entry = store.cases.get_history(case_id)[-1]
    assert entry.data["changes"]["matter_code"] == {"from": "09005", "to": "06010"}
    # After correction the case merges with the new code, not the old one.
    assert (
        store.cases.ingest_event(make_event("e2", north_m=3, class_name="exposed_garbage")).case.id == case_id
    )
    assert store.cases.ingest_event(make_event("e3", north_m=3)).created


def test_overdue_is_computed_at_read_time_and_stops_once_handled(store: CaseStore) -> None:
    case_id = store.cases.ingest_event(make_event("e1", area_class="B")).case.id  # vending B: 4 h
    case = store.cases.get_case(case_id)
    assert not case.overdue
    real_clock = store.db.clock
    store.db.clock = lambda: real_clock() + timedelta(hours=5)
    assert store.cases.get_case(case_id).overdue
    assert store.cases.count_overdue() == 1
    _walk(store, case_id, ["confirm", "dispatch", "handle"])
    assert not store.cases.get_case(case_id).overdue
    assert store.cases.count_overdue() == 0


def test_history_is_append_only_in_the_database(store: CaseStore) -> None:
    case_id = _new_case(store)
    store.cases.apply_action(case_id, "confirm", "alice")
    with store.db.engine.begin() as conn, pytest.raises(sa.exc.DatabaseError, match="append-only"):
        conn.execute(sa.text("UPDATE case_history SET actor = 'someone else'"))
    with store.db.engine.begin() as conn, pytest.raises(sa.exc.DatabaseError, match="append-only"):
        conn.execute(sa.text("DELETE FROM case_history"))
    assert [h.actor for h in store.cases.get_history(case_id)] == ["patrol:veh-1", "alice"]
