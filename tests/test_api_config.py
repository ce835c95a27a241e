"""Service configuration: defaults, YAML, environment, flags; documented; first-start bootstrap; keys CLI."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from api_support import REPO_ROOT

from detector.errors import ConfigError
from serve.settings import load_settings, settings_markdown, settings_table


def test_precedence_defaults_yaml_env_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("STREETWATCH_CONFIG", raising=False)
    config = tmp_path / "streetwatch.yaml"
    config.write_text("port: 9001\nhost: 0.0.0.0\nlimits:\n  rate_per_key: 3\n  queue_depth: 5\n")
    monkeypatch.setenv("STREETWATCH_PORT", "9002")
    monkeypatch.setenv("STREETWATCH_LIMITS__QUEUE_DEPTH", "7")
    settings = load_settings(config, data_dir=tmp_path / "d", host=None)
    assert settings.port == 9002  # env beats the file
    assert settings.host == "0.0.0.0"  # file beats the default
    assert settings.limits.rate_per_key == 3 and settings.limits.queue_depth == 7
    assert load_settings(config, port=9003).port == 9003  # flags beat everything
    assert settings.db_url == f"sqlite:///{(tmp_path / 'd' / 'streetwatch.db').as_posix()}"
    assert settings.evidence_dir == tmp_path / "d" / "evidence"


def test_bad_values_are_one_line_errors_naming_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("STREETWATCH_CONFIG", raising=False)
    config = tmp_path / "bad.yaml"
    config.write_text("limits:\n  queue_depth: -1\n")
    with pytest.raises(ConfigError, match=r"limits\.queue_depth"):
        load_settings(config)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.yaml")
    config.write_text("prot: 80\n")  # a typo is an error, not silently ignored
    with pytest.raises(ConfigError, match="prot"):
        load_settings(config)


def test_every_setting_is_described_and_the_reference_is_current():
    """docs/configuration.md is what `streetwatch config docs` writes: regenerate it after a change."""
    for name, _, _, description in settings_table():
        assert description, f"{name} has no description"
    doc = (REPO_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert doc == settings_markdown(), "stale: run `streetwatch config docs --out docs/configuration.md`"


def test_first_start_writes_private_credentials_once(make_service):
    svc = make_service(job_workers=0)
    path = svc.settings.credentials_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    assert svc.client.get("/v1/cases", headers=svc.auth()).status_code == 200
    from serve.api.bootstrap import bootstrap

    assert bootstrap(svc.store, svc.settings) is None  # keys exist: nothing new, file untouched
    assert path.read_text() == first


def test_keys_cli_creates_a_working_vehicle_key(tmp_path: Path):
    env = {**os.environ, "STREETWATCH_DATA_DIR": str(tmp_path / "data")}
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "streetwatch", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    created = run("keys", "create", "--role", "vehicle", "--vehicle", "V1")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    from serve.store import CaseStore

    store = CaseStore.open(f"sqlite:///{tmp_path / 'data' / 'streetwatch.db'}", str(tmp_path / "data" / "ev"))
    principal = store.access.authenticate(key)
    store.close()
    assert principal is not None and principal.role == "vehicle" and principal.vehicle_id == "V1"
    bad = run("keys", "create", "--role", "vehicle")
    assert bad.returncode == 2 and "--vehicle" in bad.stderr and "Traceback" not in bad.stderr


def test_live_frames_jobs_and_the_cli_run_the_model_at_the_same_input(make_service, bundled_model_path):
    """The same frames must give the same detections whichever way they arrive: the service's detector
    (live frames and footage jobs) opens the model as `streetwatch process` does, 16:9 by default."""
    from detector.pipeline import build_detector, footage_detector
    from detector.pipeline_config import load_pipeline_config

    svc = make_service(model_path=bundled_model_path, pipeline={}, taxonomy=None)
    service_input = svc.app.state.sw.detector.imgsz
    config = load_pipeline_config()
    cli_detector = footage_detector(build_detector(config, bundled_model_path, threads=1), config)
    assert service_input == cli_detector.imgsz
    service_detector = svc.app.state.sw.detector
    assert (service_detector.conf, service_detector.iou) == (cli_detector.conf, cli_detector.iou)
    height, width = service_input
    assert 1.5 < width / height < 1.8  # a 16:9 rectangle, not the square metadata size
    assert svc.app.state.sw.live.input_shape == service_input  # JPEG decoding sized for it
    square = make_service(
        model_path=bundled_model_path, pipeline={"detector": {"imgsz": width}}, taxonomy=None
    )
    assert square.app.state.sw.detector.imgsz == (width, width)  # an explicit size still wins
    stricter = make_service(
        model_path=bundled_model_path, pipeline={"detector": {"iou": 0.4, "conf": 0.3}}, taxonomy=None
    )
    assert (stricter.app.state.sw.detector.conf, stricter.app.state.sw.detector.iou) == (0.3, 0.4)
