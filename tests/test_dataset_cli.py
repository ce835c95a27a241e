"""`streetwatch dataset import|check|split|stats` end to end, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_dataset_builders import MAPPING_YAML, make_scenes, write_source
from typer.testing import CliRunner

from detector.taxonomy import load_taxonomy
from streetwatch.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def mapping(tmp_path: Path) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(MAPPING_YAML)
    return path


def test_import_check_split_stats(tmp_path: Path, mapping: Path):
    src = write_source("cvat", tmp_path / "src", make_scenes(groups=4, per_group=3))
    out, splits = tmp_path / "data", tmp_path / "splits"

    result = invoke("dataset", "import", src, "--format", "cvat", "--mapping", mapping, "--out", out)
    assert result.exit_code == 0, result.output
    assert "wrote 12 images" in result.output and "'pedestrian' -> ignore" in result.output

    result = invoke("dataset", "check", out, "--json", tmp_path / "report.json")
    assert result.exit_code == 0, result.output
    assert "errors: 0" in result.output
    assert json.loads((tmp_path / "report.json").read_text())["summary"]["images"] == 12

    result = invoke(
        "dataset", "split", out, "--out", splits, "--val", "0.25", "--test", "0.25", "--seed", "2"
    )
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0].split()
    assert header == ["train", "val", "test"]
    images_row = next(line for line in result.output.splitlines() if line.startswith("images"))
    assert sum(int(v) for v in images_row.split()[1:]) == 12
    data = yaml.safe_load((splits / "data.yaml").read_text())
    assert data["val"] == "val.txt" and list(data["names"].values()) == load_taxonomy().model_names

    result = invoke("dataset", "stats", out)
    assert result.exit_code == 0, result.output
    assert "12 images" in result.output and "vehicle" in result.output and "#" in result.output


def test_check_lists_problems_and_exits_non_zero(tmp_path: Path, mapping: Path):
    src = write_source("coco", tmp_path / "src", make_scenes(groups=1, per_group=2))
    out = tmp_path / "data"
    assert (
        invoke("dataset", "import", src, "--format", "coco", "--mapping", mapping, "--out", out).exit_code
        == 0
    )
    image = next((out / "images").glob("*.jpg"))
    image.write_bytes(image.read_bytes()[:300])
    result = invoke("dataset", "check", out)
    assert result.exit_code == 1
    assert f"ERROR   images/{image.name}: corrupt image" in result.output
    assert "errors: 1 (corrupt-image 1)" in result.output


def test_user_errors_are_one_line_without_traceback(tmp_path: Path):
    src = write_source("voc", tmp_path / "src", make_scenes(groups=1, per_group=1))
    cmd = [
        str(Path(sys.executable).with_name("streetwatch")),
        "dataset",
        "import",
        str(src),
        "--format",
        "voc",
        "--out",
        str(tmp_path / "out"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("streetwatch: error:")
    assert "class names not in the mapping" in lines[0] and "'pedestrian'" in lines[0]
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_help_lists_the_formats():
    wide = {"COLUMNS": "240", "TERMINAL_WIDTH": "240"}
    result = runner.invoke(app, ["dataset", "import", "--help"], env=wide)
    assert result.exit_code == 0
    for fmt in ("yolo", "coco", "voc", "cvat", "labelstudio"):
        assert fmt in result.output
