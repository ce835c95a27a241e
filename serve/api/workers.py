"""`streetwatch serve --workers N`: N service processes (uvicorn workers) sharing one port.

uvicorn starts worker processes from an import string, so each worker builds its app from the
settings in the environment (`app_for_worker`); the parent passes its command-line choices down as
`STREETWATCH_*` variables. What must happen once is done by the parent before the workers start:
migrations, first-start credentials, the session secret. Footage jobs are claimed per process, so
exactly one worker runs them: the first to take an exclusive lock on `<data_dir>/jobs.lock` (held
for the life of the process; released by the OS when it exits, so a restarted worker can take over).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_JOB_LOCK: list[Any] = []  # the open lock file of this process (kept open = lock held)


def _take_job_lock(data_dir: Path) -> bool:
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    fh = (data_dir / "jobs.lock").open("a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return False
    _JOB_LOCK.append(fh)
    return True


def app_for_worker():
    """uvicorn factory for one worker: settings from the environment; jobs only where the lock is taken."""
    from serve.api import create_app
    from serve.settings import load_settings

    settings = load_settings()
    if settings.job_workers > 0 and not _take_job_lock(Path(settings.data_dir)):
        settings.job_workers = 0
    return create_app(settings)


def prepare_once(settings: Any) -> None:
    """Migrate the store, write first-start credentials and the session secret before forking."""
    from serve.api.bootstrap import bootstrap
    from serve.store import CaseStore
    from serve.web.session import session_secret

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = CaseStore.open(settings.db_url, str(settings.evidence_dir))
    try:
        if settings.bootstrap:
            bootstrap(store, settings)
    finally:
        store.close()
    session_secret(settings)


def serve_workers(settings: Any, workers: int, log_level: str = "info", config: Path | None = None) -> None:
    """Run `workers` uvicorn worker processes on settings.host:settings.port."""
    import uvicorn

    prepare_once(settings)
    os.environ["STREETWATCH_DATA_DIR"] = str(Path(settings.data_dir).resolve())
    os.environ["STREETWATCH_BOOTSTRAP"] = "false"  # done above, once
    if config is not None:
        os.environ["STREETWATCH_CONFIG"] = str(Path(config).resolve())
    print(
        f"streetwatch: serving on http://{settings.host}:{settings.port} with {workers} worker processes "
        f"(data: {Path(settings.data_dir).resolve()}, store: {settings.db_url.split('@')[-1]})",
        flush=True,
    )
    uvicorn.run(
        "serve.api.workers:app_for_worker",
        factory=True,
        workers=workers,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        ws_max_size=32 * 1024 * 1024,
    )
