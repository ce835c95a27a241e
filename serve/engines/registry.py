"""Engines by name: the one place that knows which engines exist."""

from __future__ import annotations

from detector.errors import InputError
from serve.engines.common import Engine


def open_engine(name: str, address: str | None = None, workers: int | None = None) -> Engine:
    """`inprocess` or `ray` (ray: `address` of a running cluster, else a local instance)."""
    if name in ("inprocess", "local"):
        from serve.engines.inprocess import InProcessEngine

        return InProcessEngine()
    if name == "ray":
        try:
            from serve.engines.ray_engine import RayEngine
        except ModuleNotFoundError as exc:
            if exc.name != "ray" and not (exc.name or "").startswith("ray."):
                raise
            raise InputError(
                f"the ray engine needs Ray, an optional extra: pip install 'streetwatch[scale]' ({exc})"
            ) from None
        return RayEngine(address=address, workers=workers)
    raise InputError(f"--engine must be inprocess or ray, not {name!r}")

