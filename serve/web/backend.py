"""Thin adapter between the page routes and the rest of the service (state, store, auth, lifecycle).

Everything the web package needs from serve.api / serve.store goes through here, so a change of
the service's internals touches one file.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request

from serve.web.session import SESSION_SECONDS

STATUS_LABELS: dict[str, tuple[str, str]] = {
    "pending_review": ("待审核", "Pending review"),
    "confirmed": ("已确认", "Confirmed"),
    "dispatched": ("已派遣", "Dispatched"),
    "handled": ("已处置", "Handled"),
    "verified": ("已核查", "Verified"),
    "closed": ("已结案", "Closed"),
    "rejected": ("已驳回", "Rejected"),
    "voided": ("已作废", "Voided"),
}
QUEUE_LIMIT = 500


def _state(request: Request) -> Any:
    return getattr(request.app.state, "sw", None)


def _store(request: Request) -> Any:
    state = _state(request)
    return state.store if state is not None else None


def _settings(request: Request) -> Any:
    state = _state(request)
    return state.settings if state is not None else None


def secret(request: Request) -> bytes:
    """The key that signs login cookies: the service's (serve.web.session.session_secret)."""
    return request.app.state.sw.session_secret


def session_ttl(request: Request) -> int:
    return int(getattr(_settings(request), "session_max_age_s", SESSION_SECONDS) or SESSION_SECONDS)


def zones_dir(request: Request) -> Path:
    settings = _settings(request)
    if settings is not None and getattr(settings, "zones_dir", None):
        return Path(settings.zones_dir)
    return Path(os.environ.get("STREETWATCH_DATA_DIR", "data")) / "zones"


def current_principal(request: Request) -> Any:
    """The caller (API key or session cookie) as the service's auth sees it; None when anonymous."""
    from serve.api.auth import get_optional_principal  # here: serve.api imports this package

    return get_optional_principal(request)


def login_wait(request: Request) -> float:
    """Seconds this client must wait before another login attempt (0: go ahead).

    Shares the bucket of the JSON login (`/v1/auth/login`): guessing passwords through either form
    costs the same."""
    limiter = getattr(_state(request), "login_limiter", None)
    if limiter is None or not hasattr(limiter, "acquire"):
        return 0.0
    return float(limiter.acquire(f"login:{request.client.host if request.client else '-'}"))


def check_password(request: Request, username: str, password: str) -> Any:
    return _store(request).access.check_password(username, password)


def taxonomy_classes(request: Request) -> list[dict[str, Any]]:
    store = _store(request)
    taxonomy = getattr(store, "taxonomy", None)
    if taxonomy is None:
        from detector.taxonomy import default_taxonomy

        taxonomy = default_taxonomy()
    return [
        {
            "name": c.name,
            "zh": c.zh,
            "en": c.en,
            "matter_code": c.matter_code,
            "severity": c.severity,
            "color": c.color,
            "violation": c.violation,
        }
        for c in sorted(taxonomy.classes, key=lambda c: c.id)
    ]


def actions_by_status() -> dict[str, list[str]]:
    from serve.store.lifecycle import allowed_actions
    from serve.store.types import CaseStatus

    return {s.value: [a.value for a in allowed_actions(s)] for s in CaseStatus}


def role_actions(role: str) -> list[str]:
    """Lifecycle actions a role may take on cases (the case API enforces the same)."""
    from serve.store.lifecycle import Action

    if role in ("inspector", "admin"):
        return [a.value for a in Action]
    return []


def note_required_actions() -> list[str]:
    from serve.store.lifecycle import NOTE_REQUIRED

    return sorted(a.value for a in NOTE_REQUIRED)


def queue_ids(request: Request) -> list[int]:
    """Pending case ids, most urgent first (the store's review_queue order), across pages."""
    store = _store(request)
    ids: list[int] = []
    cursor = None
    while len(ids) < QUEUE_LIMIT:
        page = store.cases.review_queue(limit=min(200, QUEUE_LIMIT - len(ids)), after=cursor)
        ids.extend(c.id for c in page.items)
        cursor = page.next_cursor
        if not cursor or not page.items:
            break
    return ids


def queue_count(request: Request) -> int | None:
    try:
        return int(_store(request).cases.counts_by_status().get("pending_review", 0))
    except Exception:  # noqa: BLE001 - the badge is a hint; the page still works without it
        return None


def segment_ranking(request: Request, since: datetime | None, until: datetime | None) -> list[Any]:
    return _store(request).cases.segment_ranking(since=since, until=until)
