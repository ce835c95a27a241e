"""Hashing of API keys and passwords (standard library only)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

KEY_PREFIX = "sw_"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def new_api_key() -> str:
    """A random key: 32 bytes of entropy, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(plaintext: str) -> str:
    """sha256 hex: keys are long random tokens, so a fast hash is enough (no dictionary to attack)."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def hash_password(password: str) -> str:
    """scrypt with a random 16-byte salt: `scrypt$n$r$p$salt$hash` (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
