"""Evidence storage: content-addressed blobs (JPEG frames and crops) behind a small interface.

A key is `<sha256 hex><suffix>` (e.g. "9f2c...e1.jpg"): the same bytes always get the same key, so
storing the same evidence twice costs nothing and a key never changes meaning. The local folder is
the default; an S3-compatible backend implements the same `EvidenceStorage` protocol.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from detector.errors import InputError

_KEY_RE = re.compile(r"^[0-9a-f]{64}(\.[A-Za-z0-9]{1,8})?$")


def content_key(data: bytes, suffix: str = ".jpg") -> str:
    """The key a blob gets: sha256 of its bytes plus the suffix (with a leading dot)."""
    if suffix and not suffix.startswith("."):
        suffix = "." + suffix
    if suffix and not re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix):
        raise InputError(f"invalid evidence suffix {suffix!r}")
    return hashlib.sha256(data).hexdigest() + suffix.lower()


def check_key(key: str) -> str:
    """Refuse anything that is not a content key (no paths, no '..'): keys may come from URLs."""
    if not _KEY_RE.match(key):
        raise InputError(f"invalid evidence key {key!r}")
    return key


@runtime_checkable
class EvidenceStorage(Protocol):
    """Where evidence images live. Implementations must be safe to share between threads."""

    def put(self, data: bytes, suffix: str = ".jpg") -> str:
        """Store bytes and return their content key (idempotent)."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes stored under key; KeyError if absent, InputError for a malformed key."""
        ...

    def exists(self, key: str) -> bool: ...

    def url(self, key: str) -> str:
        """Where a client fetches it (an API path for the local folder, a presigned URL for S3)."""
        ...

    def path(self, key: str) -> Path | None:
        """A local file path when the backend has one (lets the API stream it), else None."""
        ...


class LocalEvidenceStorage:
    """Evidence in a local folder: `<root>/<key[:2]>/<key>`, written atomically."""

    def __init__(self, root: str | Path, url_prefix: str = "/v1/evidence/") -> None:
        self.root = Path(root)
        self.url_prefix = url_prefix
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalEvidenceStorage({str(self.root)!r})"

    def _file(self, key: str) -> Path:
        check_key(key)
        return self.root / key[:2] / key

    def put(self, data: bytes, suffix: str = ".jpg") -> str:
        key = content_key(data, suffix)
        target = self._file(key)
        if target.exists():
            return key
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)  # atomic: readers never see half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        target = self._file(key)
        try:
            return target.read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        return self._file(key).is_file()

    def url(self, key: str) -> str:
        return self.url_prefix + check_key(key)

    def path(self, key: str) -> Path | None:
        target = self._file(key)
        return target if target.is_file() else None


def open_storage(spec: EvidenceStorage | str | Path) -> EvidenceStorage:
    """An EvidenceStorage from an instance or a spec string: a folder path (or file:// URL).

    Other schemes (e.g. s3://bucket/prefix) are registered by their backends in STORAGE_SCHEMES; a
    backend module named `serve.store.storage_<scheme>` is imported on first use of its scheme.
    """
    if not isinstance(spec, str | Path):
        return spec
    text = str(spec)
    if re.match(r"^[a-z][a-z0-9]+:/[^/]", text):
        text = text.replace(":/", "://", 1)  # str(Path("s3://b/p")) is "s3:/b/p" (a Path settings field)
    scheme, sep, rest = text.partition("://")
    if sep and scheme != "file":
        if scheme not in STORAGE_SCHEMES and re.fullmatch(r"[a-z][a-z0-9]*", scheme):
            # Backends live in serve/store/storage_<scheme>.py and register themselves on import.
            with contextlib.suppress(ModuleNotFoundError):
                importlib.import_module(f"serve.store.storage_{scheme}")
        factory = STORAGE_SCHEMES.get(scheme)
        if factory is None:
            raise InputError(f"unknown evidence storage scheme {scheme!r} in {text!r}")
        return factory(text)
    return LocalEvidenceStorage(rest if sep else text)


#: scheme -> factory(spec string) for non-local backends (an S3 backend adds "s3" here).
STORAGE_SCHEMES: dict[str, Callable[[str], EvidenceStorage]] = {}
