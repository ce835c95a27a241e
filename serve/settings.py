"""StreetWatch's one configuration: every command (`serve`, `process`, `keys`, `users`, `db`,
`dataset from-reviews`) reads the same `Settings`, so `process` writes to the store the service reads.

Precedence (highest first): command-line flags (passed in code), environment variables
(`STREETWATCH_PORT=9000`, nested with `__`: `STREETWATCH_PIPELINE__DETECTOR__CONF=0.3`), the YAML
file (`--config`, `STREETWATCH_CONFIG`, else `./streetwatch.yaml` when present), the defaults below.
Every path that is not set explicitly lives under the data directory, so one folder holds all state.
The data path's settings (detector input and thresholds, tracker, class rules, evidence, case merging)
are nested under `pipeline`: their defaults are `detector/pipeline_defaults.yaml`, and a file or a
variable overrides only the fields it names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from detector.errors import ConfigError
from detector.pipeline_config import PipelineConfig, load_pipeline_config

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_MODEL = REPO_ROOT / "models" / "streetwatch-yolo11n.onnx"
DEFAULT_CONFIG_FILE = Path("streetwatch.yaml")


class Limits(BaseModel):
    """What one request or one client may cost the service."""

    max_upload_bytes: int = Field(
        default=10 * 1024 * 1024,
        gt=0,
        description="Largest image upload accepted by /v1/frames and the stream (413 above).",
    )
    max_video_bytes: int = Field(
        default=4 * 1024**3, gt=0, description="Largest video accepted by POST /v1/jobs (413 above)."
    )
    max_image_pixels: int = Field(
        default=4096 * 4096, gt=0, description="Largest decoded image, width x height (413 above)."
    )
    max_image_side: int = Field(default=8192, gt=0, description="Longest image side in pixels (413 above).")
    min_image_side: int = Field(default=16, gt=0, description="Shortest image side in pixels (422 below).")
    max_metadata_bytes: int = Field(default=8192, gt=0, description="Largest JSON metadata part (413 above).")
    rate_per_key: float = Field(
        default=50.0, gt=0, description="Sustained requests per second allowed per API key (429 above)."
    )
    burst_per_key: int = Field(
        default=100, gt=0, description="Requests a key may send at once before the rate applies."
    )
    login_attempts_per_minute: float = Field(
        default=10.0,
        gt=0,
        description="Sustained login attempts per minute per client address, API and web form together "
        "(429 above): slows password guessing.",
    )
    login_burst: int = Field(
        default=5,
        gt=0,
        description="Login attempts a client address may make at once before the rate applies.",
    )
    queue_depth: int = Field(
        default=32,
        gt=0,
        description="Frames waiting for the detector across all clients; beyond it 503 / slow_down.",
    )
    max_queue_wait_s: float = Field(
        default=2.0,
        gt=0,
        description="Refuse (503 / slow_down) when the frames already queued would wait longer than this.",
    )
    stream_queue_depth: int = Field(
        default=8, gt=0, description="Frames one WebSocket stream may have in flight before slow_down."
    )


class Batching(BaseModel):
    """How the micro-batcher groups frames from several vehicles into one model call."""

    max_batch: int = Field(default=4, gt=0, description="Most frames in one detector call.")
    max_wait_ms: float = Field(
        default=10.0, ge=0, description="How long the first frame of a batch waits for others to join."
    )
    workers: int = Field(
        default=2,
        gt=0,
        description="Detector worker threads, each running whole batches on its own share of the cores "
        "(`threads`). Two single-threaded workers on 2 cores served 1.2x the frames of one two-threaded "
        "worker (docs/api.md, load test): no thread waits on a straggler while decoding shares the cores.",
    )


class Settings(BaseSettings):
    """Everything `streetwatch serve` reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="STREETWATCH_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path = Field(default=Path("data"), description="Folder holding all service state.")
    db_url: str | None = Field(
        default=None,
        description="Case store URL (SQLAlchemy). Default: SQLite file `<data_dir>/streetwatch.db`.",
    )
    evidence_dir: Path | None = Field(
        default=None, description="Evidence image folder. Default: `<data_dir>/evidence`."
    )
    uploads_dir: Path | None = Field(
        default=None, description="Where uploaded job videos are streamed to. Default: `<data_dir>/uploads`."
    )
    model_path: Path = Field(default=BUNDLED_MODEL, description="ONNX detector the service runs.")
    threads: int = Field(
        default=0,
        ge=0,
        description="ONNX Runtime intra-op threads per detector worker (0: the cores shared out among "
        "`batching.workers`, at least 1).",
    )

    def detector_threads(self) -> int:
        """Intra-op threads each detector worker's calls run on."""
        return self.threads or max(1, (os.cpu_count() or 1) // self.batching.workers)

    spin: bool = Field(
        default=False,
        description="Let ONNX Runtime threads busy-wait between calls. Off: the cores they would spin on "
        "decode, parse and store the next frames instead (see docs/api.md, load test).",
    )
    reduced_decode: bool = Field(
        default=True,
        description="Decode live JPEGs at 1/2, 1/4 or 1/8 size when the model's input is that small "
        "(a 416 model needs no more than half of a 1280x720 frame); case evidence is still cut from "
        "the full-resolution frame (docs/api.md, decoding and load test).",
    )
    host: str = Field(default="127.0.0.1", description="Address the service listens on.")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port the service listens on.")
    taxonomy: Path | None = Field(
        default=None,
        description="Class taxonomy YAML (classes, matter codes, deadlines). Default: STREETWATCH_TAXONOMY "
        "or the bundled detector/taxonomy.yaml; must match the model's classes.",
    )
    pipeline: PipelineConfig = Field(
        default_factory=load_pipeline_config,
        description="The data path: detector input and thresholds, sampling, tracker, class rules, "
        "evidence, case merging. Defaults: detector/pipeline_defaults.yaml; a `pipeline:` section or a "
        "`STREETWATCH_PIPELINE__...` variable overrides only the fields it names.",
    )
    camera_config: Path | None = Field(
        default=None, description="Camera mount YAML used for live frames and jobs (geolocation)."
    )
    zones_dir: Path | None = Field(
        default=None,
        description="Zone/road-segment GeoJSON layers. Default: `<data_dir>/zones` (admin uploads go there).",
    )
    session_secret: str | None = Field(
        default=None,
        description="Key that signs web login cookies. Default: generated once into `<data_dir>/secret.key`.",
    )
    session_max_age_s: int = Field(default=12 * 3600, gt=0, description="Web login lifetime in seconds.")
    bootstrap: bool = Field(
        default=True,
        description="On first start write an admin key and demo logins to `<data_dir>/credentials.txt`.",
    )
    live_idle_flush_s: float = Field(
        default=10.0,
        gt=0,
        description="A vehicle that sent no frame for this long has its open tracks ended (cases are made).",
    )
    frame_answers_keep_hours: float = Field(
        default=48.0,
        gt=0,
        description="How long the answer to a live frame is kept, so a vehicle's retry of that frame is "
        "answered without a second observation; older answers are purged hourly.",
    )
    job_workers: int = Field(default=1, ge=0, description="Batch-footage jobs processed at once (0: none).")
    job_lease_s: float = Field(
        default=60.0,
        ge=1,
        description="An instance renews its claim on a running job every few seconds; when it stops "
        "renewing (killed) for this long, another instance sharing the store resumes the job.",
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL used in exported media links (Open311 media_url). Default: request's.",
    )
    limits: Limits = Field(default_factory=Limits, description="Request size, image and rate limits.")
    batching: Batching = Field(default_factory=Batching, description="Micro-batching of detector calls.")

    @field_validator("pipeline", mode="before")
    @classmethod
    def _pipeline_over_defaults(cls, value: Any) -> Any:
        """A partial `pipeline` mapping is laid over the bundled defaults, not over bare field defaults."""
        if isinstance(value, dict):
            return load_pipeline_config(overrides=value)
        return value

    @model_validator(mode="after")
    def _fill_paths(self) -> Settings:
        self.data_dir = Path(self.data_dir)
        if self.evidence_dir is None:
            self.evidence_dir = self.data_dir / "evidence"
        if self.uploads_dir is None:
            self.uploads_dir = self.data_dir / "uploads"
        if self.zones_dir is None:
            self.zones_dir = self.data_dir / "zones"
        if self.db_url is None:
            self.db_url = f"sqlite:///{(self.data_dir / 'streetwatch.db').as_posix()}"
        if self.taxonomy is not None and self.pipeline.taxonomy is None:
            self.pipeline = self.pipeline.model_copy(update={"taxonomy": str(self.taxonomy)})
        return self

    @property
    def credentials_file(self) -> Path:
        return self.data_dir / "credentials.txt"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config = _config_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config is not None:
            sources.append(
                YamlConfigSettingsSource(settings_cls, yaml_file=config, yaml_file_encoding="utf-8")
            )
        return tuple(sources)


_CONFIG_OVERRIDE: list[Path | None] = [None]


def _config_file() -> Path | None:
    from_env = os.environ.get("STREETWATCH_CONFIG")
    explicit = _CONFIG_OVERRIDE[0] or (Path(from_env) if from_env else None)
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError("configuration file not found", explicit)
        return explicit
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from defaults, the YAML file, the environment and `overrides` (None values ignored).

    Raises ConfigError (one line, naming the field) on a bad value.
    """
    from pydantic import ValidationError

    _CONFIG_OVERRIDE[0] = Path(config) if config else None
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "settings"
        raise ConfigError(f"{field}: {err['msg']}", _CONFIG_OVERRIDE[0] or config) from None
    finally:
        _CONFIG_OVERRIDE[0] = None


def zones_folder(settings: Settings) -> Path | None:
    """The settings' zones folder, or None when it holds no layer yet."""
    folder = Path(settings.zones_dir)
    return folder if folder.is_dir() and any(folder.glob("*.geojson")) else None


def zone_layers(settings: Settings) -> Any:
    """The zone layers in the settings' zones folder, or None when it holds no layer yet."""
    from detector.zones import load_zones

    folder = zones_folder(settings)
    return None if folder is None else load_zones(folder)


def camera_mount(settings: Settings) -> Any:
    """The camera mount of `camera_config`, else the pipeline's default mount."""
    if settings.camera_config is None:
        return settings.pipeline.camera
    from detector.geo import load_camera_mount

    return load_camera_mount(settings.camera_config)


def settings_table() -> list[tuple[str, str, str, str]]:
    """(name, env var, default, description) for every field, nested ones included (`pipeline.detector.conf`).

    Defaults are the embedded ones: the pipeline's come from detector/pipeline_defaults.yaml."""
    rows: list[tuple[str, str, str, str]] = []

    def walk(model: type[BaseModel], defaults: BaseModel | None, prefix: str, env_prefix: str) -> None:
        for name, info in model.model_fields.items():
            annotation = info.annotation
            default = getattr(defaults, name) if defaults is not None else info.get_default(
                call_default_factory=True
            )
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, default, f"{prefix}{name}.", f"{env_prefix}{name.upper()}__")
                continue
            if isinstance(default, BaseModel):
                default = default.model_dump(mode="json")
            elif isinstance(default, Path):
                inside = default.is_relative_to(REPO_ROOT)
                default = str(default.relative_to(REPO_ROOT) if inside else default)
            text = repr(default)
            if isinstance(default, dict) and len(text) > 60:
                where = "detector/pipeline_defaults.yaml" if prefix else "serve/settings.py"
                text = f"{{{len(default)} entries: see {where}}}"
            rows.append((f"{prefix}{name}", f"{env_prefix}{name.upper()}", text, info.description or ""))

    walk(Settings, None, "", "STREETWATCH_")
    return rows


def settings_markdown() -> str:
    """docs/configuration.md: every setting with its variable, default and description (generated)."""
    lines = [
        "# Configuration",
        "",
        "Generated by `streetwatch config docs` from `serve/settings.py`; a test keeps it in step.",
        "",
        "Every command reads the same settings. Precedence, highest first: command-line flags,",
        "`STREETWATCH_*` environment variables (nested fields with `__`), the YAML file (`--config`,",
        "`STREETWATCH_CONFIG`, else `./streetwatch.yaml`), the defaults below. In the YAML file a nested",
        "field is a nested mapping: `pipeline: {detector: {conf: 0.3}}`. `streetwatch config show` prints",
        "the settings in effect.",
        "",
        "| setting | environment variable | default | what it does |",
        "|---|---|---|---|",
    ]
    for name, env, default, description in settings_table():
        cell, text = default.replace("|", r"\|"), description.replace("|", r"\|")
        lines.append(f"| `{name}` | `{env}` | `{cell}` | {text} |")
    return "\n".join(lines) + "\n"
