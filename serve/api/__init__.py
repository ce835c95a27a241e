"""The StreetWatch HTTP service (FastAPI): `create_app(settings)` builds it."""

from serve.api.app import create_app

__all__ = ["create_app"]
