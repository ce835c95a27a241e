"""Shared test fixtures. Keep additions small and generic; area-specific fixtures live in their tests."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(tempfile.gettempdir()) / "streetwatch-test-cache"

# Fixtures of the service tests (app factory, model + matching taxonomy, a clip): tests/api_support.py.
pytest_plugins = ["api_support", "s3_support"]  # s3_support: s3rver on loopback (S3 evidence tests)

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(REPO_ROOT / ".cache" / "ultralytics"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = Path(os.environ.get("STREETWATCH_SHARED", REPO_ROOT.parent / "shared"))
    if not (path / "weights").is_dir():
        pytest.skip(f"shared weights not found at {path}")
    return path


def _export_coco_onnx(shared: Path, imgsz: int) -> Path:
    """Export ../shared/weights/yolo11n-coco.pt to ONNX once, cached under the temp dir."""
    from training.export_coco import export_coco_onnx

    return export_coco_onnx(imgsz, cache_dir=CACHE_DIR, weights=shared / "weights" / "yolo11n-coco.pt")


@pytest.fixture(scope="session")
def coco_onnx_path(shared_dir: Path) -> Path:
    """YOLO11n COCO exported by ultralytics to ONNX (dynamic batch/size, input 640)."""
    return _export_coco_onnx(shared_dir, 640)


@pytest.fixture(scope="session")
def static_batch_onnx(coco_onnx_path, tmp_path_factory) -> Path:
    """The same model with a fixed (1, 3, 640, 640) input, like `yolo export dynamic=False`."""
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(coco_onnx_path))
    for value, dims in ((model.graph.input[0], (1, 3, 640, 640)), (model.graph.output[0], (1, 84, 8400))):
        for dim, size in zip(value.type.tensor_type.shape.dim, dims, strict=True):
            dim.Clear()
            dim.dim_value = size
    path = tmp_path_factory.mktemp("static") / "static.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def bundled_model_path() -> Path:
    """The project's own trained model, committed under models/."""
    path = REPO_ROOT / "models" / "streetwatch-yolo11n.onnx"
    if not path.exists():
        pytest.skip("bundled model models/streetwatch-yolo11n.onnx not trained yet")
    return path


# ---- PostgreSQL (case store tests; marker `postgres`) ------------------------------------------------
def _pg_can_create(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            sql = "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
            row = conn.execute(sql).fetchone()
            return bool(row and row[0])
    except psycopg.Error:
        return False


def _start_throwaway_postgres(tmp: Path) -> tuple[str, object]:
    """initdb + pg_ctl (Debian's /usr/lib/postgresql/*/bin) on a free loopback port; returns (url, stop)."""
    import glob
    import shutil
    import socket
    import subprocess

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    pg_ctl = bins[-1] if bins else shutil.which("pg_ctl")
    if not pg_ctl:
        raise RuntimeError("no pg_ctl found (apt-get install postgresql)")
    bindir = Path(pg_ctl).parent
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data, prefix = tmp / "pgdata", []
    tmp.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the postgres user
        shutil.chown(tmp, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    run = dict(check=True, capture_output=True, timeout=120)
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"], **run)
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp} -c fsync=off"
    log = str(tmp / "log")
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", opts, "-l", log, "-w", "start"], **run)

    def stop() -> None:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)

    return f"postgresql://postgres@127.0.0.1:{port}/postgres", stop


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory):
    """An admin URL of a PostgreSQL server: STREETWATCH_TEST_PG_URL, else the local server on
    127.0.0.1:5432 (trust auth, user root or postgres, db `test`), else a throwaway cluster."""
    import shutil

    candidates = [os.environ["STREETWATCH_TEST_PG_URL"]] if os.environ.get("STREETWATCH_TEST_PG_URL") else []
    candidates += [f"postgresql://{user}@127.0.0.1:5432/test" for user in ("postgres", "root")]
    for url in candidates:
        if _pg_can_create(url.replace("postgresql+psycopg://", "postgresql://")):
            yield url.replace("postgresql+psycopg://", "postgresql://")
            return
    tmp = Path(tempfile.mkdtemp(prefix="sw-pg-"))
    try:
        url, stop = _start_throwaway_postgres(tmp)
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL here
        pytest.skip(f"no PostgreSQL: none at {', '.join(candidates)} and a throwaway cluster failed: {exc}")
    try:
        yield url
    finally:
        stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server_url: str):
    """A fresh, empty database for one test (`postgresql+psycopg://...`), dropped afterwards."""
    import uuid

    import psycopg

    name = f"sw_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_server_url.rsplit("/", 1)[0]
    yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    """A fresh case store on each backend: SQLite, and PostgreSQL (own database) where one is found.
    Test modules that need another store define their own `store` fixture, which takes precedence."""
    from serve.store import CaseStore

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cases.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    s = CaseStore.open(url, tmp_path / "evidence")
    yield s
    s.close()
