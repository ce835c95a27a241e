"""Signed web-session cookies for the inspector page.

The cookie value is ``<payload>.<signature>``: the payload is base64url JSON
``{"u": username, "r": role, "exp": unix_seconds}``, the signature is HMAC-SHA256 over the
payload with a per-installation secret. Nothing secret is stored in the cookie; the user's
role is re-read from the store on every request by the service's auth dependency when it
wants to (the cookie only names who logged in and until when).

The secret comes from ``settings.session_secret`` when the settings have one, else from
``<data_dir>/secret.key`` (32 random bytes from ``secrets``, created on first use, mode 0600), so a
restart keeps everyone logged in and a new data directory logs everyone out. Nothing about the
secret follows from the installation (its path or host name): without the key file or the
setting, no cookie can be forged.
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

from detector.errors import ConfigError

COOKIE_NAME = "sw_session"
SESSION_SECONDS = 12 * 3600  # one working day
SECRET_FILE_NAME = "secret.key"  # the name serve/settings.py documents
MIN_SECRET_BYTES = 16  # a generated key has 32
# Roles that may see cases in the web page.
REVIEW_ROLES = frozenset({"inspector", "admin"})


@dataclass(frozen=True, slots=True)
class WebSession:
    """Who is logged in to the web page, and until when."""

    username: str
    role: str
    expires_at: int


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
    """The HMAC secret in `<data_dir>/secret.key`: 32 random bytes, written (mode 0600) the first time.

    A key file shorter than `MIN_SECRET_BYTES` (empty, truncated) is a ConfigError: it is never used."""
    path = Path(data_dir) / SECRET_FILE_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.unlink(missing_ok=True)  # left by a process of the same id that died here
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
        try:
            os.link(tmp, path)  # first writer wins when two workers start at once
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    secret = path.read_bytes()
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"the web session key holds {len(secret)} bytes, fewer than {MIN_SECRET_BYTES}: delete it and "
            "restart to have a new one generated",
            path,
        )
    return secret


def session_secret(settings: Any) -> bytes:
    """Secret for `settings`: its `session_secret` when set, else `<settings.data_dir>/secret.key`.

    Either holds at least `MIN_SECRET_BYTES` bytes; a shorter setting is a ConfigError."""
    explicit = settings.session_secret
    if not explicit:
        return load_or_create_secret(settings.data_dir)
    raw = explicit.get_secret_value() if hasattr(explicit, "get_secret_value") else explicit
    secret = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(f"session_secret: {len(secret)} bytes, fewer than {MIN_SECRET_BYTES}")
    return secret
