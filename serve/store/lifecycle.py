"""The city loop as data: which action moves a case from which state to which state.

pending_review -> confirmed | rejected | voided
confirmed      -> dispatched | voided
dispatched     -> handled | voided
handled        -> verified | dispatched (rework: the fix was not good enough)
verified       -> closed
rejected / closed / voided -> pending_review (reopen)
`correct` changes the class (and so the matter code) without changing the state; allowed while the
case is pending_review or confirmed. Anything else raises `TransitionError`.
"""

from __future__ import annotations

from enum import StrEnum

from detector.errors import StreetWatchError
from serve.store.types import CaseStatus

S = CaseStatus


class Action(StrEnum):
    confirm = "confirm"
    reject = "reject"
    correct = "correct"
    dispatch = "dispatch"
    handle = "handle"
    verify = "verify"
    close = "close"
    void = "void"
    reopen = "reopen"


#: action -> {from_status: to_status}. The single source of truth for allowed transitions.
TRANSITIONS: dict[Action, dict[CaseStatus, CaseStatus]] = {
    Action.confirm: {S.pending_review: S.confirmed},
    Action.reject: {S.pending_review: S.rejected},
    Action.correct: {S.pending_review: S.pending_review, S.confirmed: S.confirmed},
    Action.dispatch: {S.confirmed: S.dispatched, S.handled: S.dispatched},
    Action.handle: {S.dispatched: S.handled},
    Action.verify: {S.handled: S.verified},
    Action.close: {S.verified: S.closed},
    Action.void: {S.pending_review: S.voided, S.confirmed: S.voided, S.dispatched: S.voided},
    Action.reopen: {S.rejected: S.pending_review, S.closed: S.pending_review, S.voided: S.pending_review},
}

#: Actions that need a non-empty note (the reason).
NOTE_REQUIRED: frozenset[Action] = frozenset({Action.reject, Action.void, Action.reopen})


class TransitionError(StreetWatchError):
    """An action that the lifecycle does not allow from the case's current state (API: 409)."""

    def __init__(
        self, problem: str, from_status: CaseStatus | None = None, action: str | None = None
    ) -> None:
        self.from_status = from_status
        self.action = action
        super().__init__(problem)


class ActionError(StreetWatchError):
    """An action with missing or invalid data, e.g. reject without a reason (API: 422)."""


def parse_action(action: str | Action) -> Action:
    try:
        return Action(action)
    except ValueError:
        known = ", ".join(a.value for a in Action)
        raise ActionError(f"unknown action {action!r}; known: {known}") from None


def allowed_actions(status: CaseStatus) -> list[Action]:
    """Actions that can be applied to a case in this state (for buttons in the review page)."""
    return [action for action, moves in TRANSITIONS.items() if status in moves]


def next_status(status: CaseStatus | str, action: Action | str) -> CaseStatus:
    """The state after `action`, or TransitionError naming the current state and the refused move."""
    status = CaseStatus(status)
    act = parse_action(action)
    moves = TRANSITIONS[act]
    if status not in moves:
        allowed = ", ".join(s.value for s in moves) or "none"
        raise TransitionError(
            f"cannot {act.value} a case in state {status.value}: {act.value} is allowed only from {allowed}",
            from_status=status,
            action=act.value,
        )
    return moves[status]


def is_transition_allowed(from_status: CaseStatus | str, to_status: CaseStatus | str) -> bool:
    """True when some action moves a case from `from_status` to a different `to_status`."""
    return any(
        moves.get(CaseStatus(from_status)) == CaseStatus(to_status)
        for moves in TRANSITIONS.values()
        if CaseStatus(from_status) != CaseStatus(to_status)
    )


def check_transition(from_status: CaseStatus | str, to_status: CaseStatus | str) -> None:
    """Raise TransitionError (naming from and to) unless some action makes this move."""
    if not is_transition_allowed(from_status, to_status):
        raise TransitionError(
            f"transition {CaseStatus(from_status).value} -> {CaseStatus(to_status).value} is not allowed",
            from_status=CaseStatus(from_status),
        )
