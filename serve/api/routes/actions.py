"""POST /v1/cases/{id}/actions: the case lifecycle.

confirm, reject, correct, dispatch, handle, verify, close, void, reopen (serve/store/lifecycle.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from serve.api.auth import require_inspector
from serve.store.lifecycle import Action
from serve.store.types import Case, Principal

router = APIRouter(tags=["cases"])


class ActionRequest(BaseModel):
    action: Action = Field(description="Lifecycle action.")
    note: str | None = Field(
        default=None, max_length=2000, description="Free text; the reason for reject/void/reopen."
    )
    reason: str | None = Field(
        default=None,
        max_length=200,
        description="Short reason code (reject: e.g. false_positive); stored with the note.",
    )
    class_name: str | None = Field(default=None, max_length=64, description="correct: the right class.")
    matter_code: str | None = Field(
        default=None, max_length=32, description="correct: the right matter code."
    )
    unit: str | None = Field(default=None, max_length=200, description="dispatch: the responsible unit.")


@router.post(
    "/v1/cases/{case_id}/actions",
    response_model=Case,
    summary="Apply a lifecycle action, recorded with the acting user",
    responses={
        404: {"description": "No such case."},
        409: {"description": "The action is not allowed from the case's current state; `detail` says why."},
        422: {"description": "Missing data (e.g. reject without a reason)."},
    },
)
async def post_action(
    request: Request,
    body: ActionRequest,
    case_id: Annotated[int, Path(ge=1, le=2**62)],
    principal: Principal = Depends(require_inspector),
) -> Case:
    store = request.app.state.sw.store
    note = body.note
    data: dict = {}
    if body.reason:
        data["reason"] = body.reason
        note = f"{body.reason}: {note}" if note else body.reason
    for name in ("class_name", "matter_code", "unit"):
        value = getattr(body, name)
        if value is not None:
            data[name] = value
    return await run_in_threadpool(
        store.cases.apply_action, case_id, body.action, principal.name, note, **data
    )
