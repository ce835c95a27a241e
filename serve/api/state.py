"""Everything one running service holds: settings, store, detector, batcher, live pipeline, jobs, metrics."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serve.api.inference import MicroBatcher
from serve.api.limits import RateLimiter
from serve.api.metrics import ServiceMetrics
from serve.settings import Settings
from serve.store.types import Principal, Role

log = logging.getLogger("streetwatch.service")


@dataclass
class ServiceState:
    settings: Settings
    store: Any  # serve.store.CaseStore
    detector: Any = None  # detector.model.Detector
    batcher: MicroBatcher | None = None
    live: Any = None  # serve.api.live.LiveService
    jobs: Any = None  # serve.api.jobs.JobRunner
    metrics: ServiceMetrics | None = None
    rate_limiter: RateLimiter | None = None
    key_cache: Any = None  # serve.api.auth.KeyCache
    login_limiter: RateLimiter | None = None  # per client address, far stricter than per key
    session_secret: bytes = b""
    model_error: str | None = None
    taxonomy: Any = None  # detector.taxonomy.Taxonomy used by the store, the pipeline and the API
    active_streams: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def evidence_settings(self) -> Any:
        """The pipeline configuration's `evidence` section (pictures drawn on request)."""
        return self.settings.pipeline.evidence

    @property
    def model_loaded(self) -> bool:
        return self.detector is not None and self.batcher is not None

    def store_principal_for_user(self, username: str) -> Principal | None:
        """The Principal of a logged-in web user, re-read from the store (None when unknown/disabled)."""
        user = self.store.access.get_user(username)
        if user is None or getattr(user, "disabled", False):
            return None
        return Principal(id=f"user:{user.id}", name=user.username, role=Role(user.role), kind="user")

    def active_vehicle_count(self, window_s: float = 10.0) -> int:
        """Vehicles that had a frame processed in the last `window_s` seconds or hold a stream open (>= 1)."""
        import time

        now = time.monotonic()
        recent = set(self.active_streams)
        if self.live is not None:
            recent |= {vid for vid, at in list(self.live.last_arrival.items()) if now - at < window_s}
        return max(1, len(recent))

    @property
    def zones_dir(self) -> Path:
        return Path(self.settings.zones_dir)
