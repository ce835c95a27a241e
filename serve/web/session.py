"""Signed web-session cookies for the inspector page.

The cookie value is ``<payload>.<signature>``: the payload is base64url JSON
``{"u": username, "r": role, "exp": unix_seconds}``, the signature is HMAC-SHA256 over the
payload with a per-installation secret. Nothing secret is stored in the cookie; the user's
role is re-read from the store on every request by the service's auth dependency when it
wants to (the cookie only names who logged in and until when).

The secret comes from ``settings.session_secret`` when the settings have one, else from
``<data_dir>/secret.key`` (32 random bytes, created on first use, mode 0600), so a
restart keeps everyone logged in and a new data directory logs everyone out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COOKIE_NAME = "sw_session"
SESSION_SECONDS = 12 * 3600  # one working day
SECRET_FILE_NAME = "secret.key"  # the name serve/settings.py documents
# Roles that may see cases in the web page.
REVIEW_ROLES = frozenset({"inspector", "admin"})


@dataclass(frozen=True, slots=True)
class WebSession:
    """Who is logged in to the web page, and until when."""

    username: str
    role: str
    expires_at: int

    @property
    def can_review(self) -> bool:
        return self.role in REVIEW_ROLES


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_session(
    username: str, role: str, secret: bytes, *, ttl_s: int = SESSION_SECONDS, now: float | None = None
) -> str:
    """Cookie value for `username` with `role`, valid for `ttl_s` seconds."""
    payload = {"u": username, "r": role, "exp": int((now or time.time()) + ttl_s)}
    body = _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    mac = hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def read_session(value: str | None, secret: bytes, *, now: float | None = None) -> WebSession | None:
    """The session in a cookie value, or None when it is missing, forged, malformed or expired."""
    if not value or "." not in value:
        return None
    body, _, mac_text = value.partition(".")
    try:
        expected = hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac_text)):
            return None
        data: dict[str, Any] = json.loads(_unb64(body))
        session = WebSession(str(data["u"]), str(data["r"]), int(data["exp"]))
    except (ValueError, KeyError, TypeError, UnicodeError):
        return None
    if session.expires_at < (now or time.time()):
        return None
    return session


def load_or_create_secret(data_dir: str | Path) -> bytes:
    """The HMAC secret kept in the data directory; created (0600) the first time."""
    path = Path(data_dir) / SECRET_FILE_NAME
    if path.exists():
        secret = path.read_bytes()
        if len(secret) >= 16:
            return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))
    try:
        os.link(tmp, path)  # first writer wins when two workers start at once
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()


def session_secret(settings: Any) -> bytes:
    """Secret for `settings`: an explicit `session_secret` setting, else the data-dir key file."""
    explicit = getattr(settings, "session_secret", None)
    if explicit is not None:
        raw = explicit.get_secret_value() if hasattr(explicit, "get_secret_value") else explicit
        if raw:
            return raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    data_dir = getattr(settings, "data_dir", None) or os.environ.get("STREETWATCH_DATA_DIR", "data")
    return load_or_create_secret(data_dir)
