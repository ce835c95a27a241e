"""The key that signs web login cookies is random, kept in `<data_dir>/secret.key` (0600) or given in
the settings; it never follows from anything an outsider could know (the data directory's path)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from detector.errors import ConfigError
from serve.settings import load_settings
from serve.web.session import SECRET_FILE_NAME, load_or_create_secret, session_secret, sign_session


def _path_digests(data_dir: Path) -> set[bytes]:
    """Secrets an attacker could compute from the data directory's path alone."""
    texts = {str(data_dir), str(data_dir.resolve()), data_dir.as_posix(), os.fspath(data_dir.absolute())}
    return {hashlib.sha256(t.encode()).digest() for t in texts} | {t.encode() for t in texts}


def test_the_secret_is_generated_once_into_the_data_dir_with_mode_0600(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path / "data")
    secret = session_secret(settings)
    key_file = tmp_path / "data" / SECRET_FILE_NAME
    assert key_file.read_bytes() == secret and len(secret) == 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert session_secret(settings) == secret  # a restart keeps everyone logged in
    assert not list((tmp_path / "data").glob("*.tmp*"))


def test_the_secret_is_not_derivable_from_the_data_dir(tmp_path: Path):
    data_dir = tmp_path / "data"
    first = session_secret(load_settings(data_dir=data_dir))
    assert first not in _path_digests(data_dir)
    # The same path, the key file gone: a new random key, so the old one never followed from the path.
    (data_dir / SECRET_FILE_NAME).unlink()
    second = session_secret(load_settings(data_dir=data_dir))
    assert second != first and second not in _path_digests(data_dir)


def test_the_service_signs_cookies_with_the_key_file(tmp_path: Path):
    """What the running service holds is the key file's secret, not anything computed from the path."""
    from fastapi.testclient import TestClient

    from serve.api import create_app

    data_dir = tmp_path / "data"
    settings = load_settings(
        data_dir=data_dir, bootstrap=False, job_workers=0, model_path=tmp_path / "none.onnx"
    )
    app = create_app(settings)
    with TestClient(app):
        held = app.state.sw.session_secret
    assert held == (data_dir / SECRET_FILE_NAME).read_bytes()
    assert held not in _path_digests(data_dir)
    forged = sign_session("admin", "admin", hashlib.sha256(str(data_dir.resolve()).encode()).digest())
    assert forged != sign_session("admin", "admin", held)


@pytest.mark.parametrize("content", [b"", b"short"])
def test_an_empty_or_short_key_file_is_an_error_not_a_weak_key(tmp_path: Path, content: bytes):
    (tmp_path / SECRET_FILE_NAME).write_bytes(content)
    with pytest.raises(ConfigError, match="fewer than 16"):
        load_or_create_secret(tmp_path)
    assert (tmp_path / SECRET_FILE_NAME).read_bytes() == content  # left for the operator to look at


def test_an_explicit_secret_is_used_and_must_not_be_short(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path, session_secret="shared-secret-of-both-instances")
    assert session_secret(settings) == b"shared-secret-of-both-instances"
    assert not (tmp_path / SECRET_FILE_NAME).exists()
    with pytest.raises(ConfigError, match="session_secret"):
        session_secret(load_settings(data_dir=tmp_path, session_secret="abc"))
