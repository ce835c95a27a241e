"""First start: an admin API key and a demo inspector login, written to `<data_dir>/credentials.txt` (0600).

Only when the store has no API key and no user yet, so a restart never creates a second set and
never rewrites the file a person may already be using.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from serve.settings import Settings

log = logging.getLogger("streetwatch.service")

DEMO_INSPECTOR = "inspector"
DEMO_ADMIN = "admin"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def bootstrap(store: Any, settings: Settings) -> Path | None:
    """Create the first credentials when the store has none; returns the credentials file or None."""
    if store.access.list_api_keys():
        return None
    _, admin_key = store.access.create_api_key("bootstrap-admin", "admin")
    inspector_password = secrets.token_urlsafe(9)
    admin_password = secrets.token_urlsafe(12)
    for username, password, role in (
        (DEMO_INSPECTOR, inspector_password, "inspector"),
        (DEMO_ADMIN, admin_password, "admin"),
    ):
        try:
            store.access.create_user(username, password, role)
        except Exception as exc:  # noqa: BLE001 - user exists from an earlier partial start
            log.warning("could not create demo user %s: %s", username, exc)
    path = settings.credentials_file
    _write_private(
        path,
        "# StreetWatch first-start credentials (created once; keep this file private)\n"
        f"admin_api_key={admin_key}\n"
        f"inspector_login={DEMO_INSPECTOR}:{inspector_password}\n"
        f"admin_login={DEMO_ADMIN}:{admin_password}\n"
        "# Create more keys: streetwatch keys create --role vehicle --vehicle V1\n",
    )
    log.warning("first start: admin API key and demo logins written to %s", path)
    print(f"streetwatch: first start: admin API key and demo logins written to {path}", flush=True)
    return path


def read_credentials(path: Path) -> dict[str, str]:
    """The key=value lines of a credentials file (for tests and scripts)."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            out[name.strip()] = value.strip()
    return out
