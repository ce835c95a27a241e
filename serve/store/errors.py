"""The store's look-up error (the lifecycle's errors are with the lifecycle, serve.store.lifecycle)."""

from __future__ import annotations

from detector.errors import StreetWatchError


class CaseNotFound(StreetWatchError, LookupError):
    """No case (or job, key, user) with that id (API: 404)."""
