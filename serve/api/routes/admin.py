"""Administration: API keys (create/list/revoke), web users, zone layers (upload and version)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Request, UploadFile
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool

from detector.errors import StreetWatchError
from serve.api.auth import require_admin
from serve.api.limits import ApiError
from serve.store.types import ApiKey, Principal, Role, User

router = APIRouter(prefix="/v1/admin", tags=["admin"])

LAYER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_LAYER_BYTES = 20 * 1024 * 1024


class KeyRequest(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="What the key is for, e.g. 'patrol car V1'.")
    role: Role
    vehicle_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Required for role vehicle: the only vehicle it may send for.",
    )

    @model_validator(mode="after")
    def _vehicle_needs_id(self) -> KeyRequest:
        if self.role == Role.vehicle and not self.vehicle_id:
            raise ValueError("vehicle_id is required for a vehicle key")
        if self.role != Role.vehicle and self.vehicle_id:
            raise ValueError("vehicle_id is only for vehicle keys")
        return self


class CreatedKey(BaseModel):
    key: str = Field(description="The plaintext key: shown once, store it now.")
    record: ApiKey


class UserRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=200)
    role: Role

    @model_validator(mode="after")
    def _people_only(self) -> UserRequest:
        if self.role == Role.vehicle:
            raise ValueError("role: web users are inspectors or admins; vehicles use API keys")
        return self


class LayerInfo(BaseModel):
    name: str
    features: int
    sha256: str


class ZonesVersion(BaseModel):
    version: str
    layers: list[LayerInfo]


@router.post("/keys", response_model=CreatedKey, status_code=201, summary="Create an API key")
async def create_key(request: Request, body: KeyRequest, _: Principal = Depends(require_admin)) -> CreatedKey:
    store = request.app.state.sw.store
    record, plaintext = await run_in_threadpool(
        store.access.create_api_key, body.name, body.role, body.vehicle_id
    )
    return CreatedKey(key=plaintext, record=record)


@router.get("/keys", response_model=list[ApiKey], summary="List API keys (no secrets)")
async def list_keys(request: Request, _: Principal = Depends(require_admin)) -> list[ApiKey]:
    return await run_in_threadpool(request.app.state.sw.store.access.list_api_keys)


@router.delete("/keys/{key_id}", response_model=ApiKey, summary="Revoke an API key")
async def revoke_key(
    request: Request, key_id: Annotated[str, Path(max_length=64)], _: Principal = Depends(require_admin)
) -> ApiKey:
    state = request.app.state.sw
    revoked = await run_in_threadpool(state.store.access.revoke_api_key, key_id)
    state.key_cache.clear()  # this process stops accepting it now (auth.KeyCache)
    return revoked


@router.post(
    "/users", response_model=User, status_code=201, summary="Create a web login (inspector or admin)"
)
async def create_user(request: Request, body: UserRequest, _: Principal = Depends(require_admin)) -> User:
    store = request.app.state.sw.store
    try:
        return await run_in_threadpool(store.access.create_user, body.username, body.password, body.role)
    except StreetWatchError:
        raise
    except Exception as exc:  # unique username violated
        if "unique" in str(exc).lower() or "exists" in str(exc).lower():
            raise ApiError(409, f"user {body.username!r} already exists") from None
        raise


@router.get("/users", response_model=list[User], summary="List web users")
async def list_users(request: Request, _: Principal = Depends(require_admin)) -> list[User]:
    return await run_in_threadpool(request.app.state.sw.store.access.list_users)


def _zones_version(folder: FsPath) -> ZonesVersion:
    from detector.zones import load_zones

    layers = []
    for file in sorted(folder.glob("*.geojson")):
        data = file.read_bytes()
        try:
            features = len(json.loads(data).get("features", []))
        except (ValueError, AttributeError):
            features = 0
        layers.append(LayerInfo(name=file.stem, features=features, sha256=hashlib.sha256(data).hexdigest()))
    version = load_zones(folder).version if layers else "none"
    return ZonesVersion(version=version, layers=layers)


@router.get("/zones", response_model=ZonesVersion, summary="Current zone layers and their version")
async def get_zones(request: Request, _: Principal = Depends(require_admin)) -> ZonesVersion:
    folder = request.app.state.sw.zones_dir
    folder.mkdir(parents=True, exist_ok=True)
    return await run_in_threadpool(_zones_version, folder)


@router.post(
    "/zones",
    response_model=ZonesVersion,
    status_code=201,
    summary="Upload (replace) one GeoJSON zone layer; the layer set gets a new version",
)
async def upload_zone_layer(
    request: Request,
    file: UploadFile = File(description="GeoJSON FeatureCollection in WGS84 lon/lat."),
    name: str = Form(description="Layer name: road_segments, no_parking, or another zone rules refer to."),
    version: str | None = Form(default=None, description="Version label (default: hash of the layers)."),
    _: Principal = Depends(require_admin),
) -> ZonesVersion:
    from detector.zones import load_zones

    state = request.app.state.sw
    if not LAYER_NAME.match(name):
        raise ApiError(422, "name: lower-case letters, digits and _ (e.g. no_parking)")
    if version is not None and not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", version):
        raise ApiError(422, "version: 1-64 letters, digits, _ . : -")
    data = await file.read(MAX_LAYER_BYTES + 1)
    if len(data) > MAX_LAYER_BYTES:
        raise ApiError(413, f"file: larger than {MAX_LAYER_BYTES} bytes")
    folder = state.zones_dir
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:  # validate the whole new set before switching
        staging = FsPath(tmp)
        for existing in folder.glob("*.geojson"):
            shutil.copy2(existing, staging / existing.name)
        (staging / f"{name}.geojson").write_bytes(data)
        if version:
            (staging / "version.txt").write_text(version + "\n", encoding="utf-8")
        try:
            await run_in_threadpool(load_zones, staging)
        except StreetWatchError as exc:
            raise ApiError(422, f"file: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - malformed GeoJSON the loader did not classify
            raise ApiError(422, f"file: not a usable GeoJSON layer ({str(exc)[:160]})") from None
        (staging / f"{name}.geojson").replace(folder / f"{name}.geojson")
        if version:
            (staging / "version.txt").replace(folder / "version.txt")
        else:
            (folder / "version.txt").unlink(missing_ok=True)
    if state.live is not None:
        from serve.api.pipeline import build_live_pipeline

        pipeline = await run_in_threadpool(
            build_live_pipeline, state.settings, state.store, state.detector, state.settings.pipeline
        )
        state.live.replace_pipeline(pipeline)
    return await run_in_threadpool(_zones_version, folder)
