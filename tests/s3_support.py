"""s3rver (an S3-compatible server from npm, installed under tools/s3rver) on a free loopback port.

Fixtures: `s3_endpoint` (module scope: http://127.0.0.1:PORT with the bucket `evidence`; AWS credentials
S3RVER/S3RVER set in the environment, so child processes inherit them); skips with the reason when
node or the package is missing. `s3_spec(endpoint, prefix)` builds an evidence storage spec.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
S3RVER = REPO_ROOT / "tools" / "s3rver" / "node_modules" / ".bin" / "s3rver"
BUCKET = "evidence"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def s3_spec(endpoint: str, prefix: str, **opts: str) -> str:
    query = "&".join(
        f"{k}={v}" for k, v in {"endpoint_url": endpoint, "addressing_style": "path", **opts}.items()
    )
    return f"s3://{BUCKET}/{prefix}?{query}"


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module):
    """http://127.0.0.1:PORT of a fresh s3rver with the bucket `evidence`; stopped at teardown."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed: the S3 tests run s3rver (npm) on loopback")
    if not S3RVER.exists():
        pytest.skip(f"s3rver not installed at {S3RVER}: run scripts/ensure-test-deps.sh (npm ci)")
    port = free_port()
    data = tmp_path_factory.mktemp("s3rver")
    log_path = data.parent / f"s3rver-{port}.log"
    log = log_path.open("wb")
    cmd = [node, str(S3RVER), "-d", str(data), "-a", "127.0.0.1", "-p", str(port), "-s",
           "--configure-bucket", BUCKET]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"s3rver exited with {proc.returncode}: {log_path.read_text()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("s3rver did not answer within 30 s")
                time.sleep(0.2)
        monkeypatch_module.setenv("AWS_ACCESS_KEY_ID", "S3RVER")
        monkeypatch_module.setenv("AWS_SECRET_ACCESS_KEY", "S3RVER")
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
            monkeypatch_module.delenv(name, raising=False)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
