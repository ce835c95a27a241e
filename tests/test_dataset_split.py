"""`dataset split`: whole groups per split, per-class balance, reproducible lists, and a data.yaml that
ultralytics loads."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from test_dataset_builders import MAPPING_YAML, WRITERS, make_scenes, write_source

from datasets.check import check_dataset
from datasets.dataset_import import import_dataset
from datasets.split import SPLITS, assign_groups, split_dataset
from detector.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 routes of 3 frames; `soil` appears on 3 routes only (a rare class)."""
    tmp = tmp_path_factory.mktemp("split")
    scenes = make_scenes(groups=20, per_group=3, seed=5)
    for scene in scenes:
        if scene.group not in ("route3", "route11", "route17"):
            scene.boxes = [b for b in scene.boxes if b[0] != "soil"]
    (tmp / "mapping.yaml").write_text(MAPPING_YAML)
    src = write_source("yolo", tmp / "src", scenes)
    import_dataset(src, "yolo", tmp / "data", mapping=tmp / "mapping.yaml")
    return tmp / "data"


def read_split_csv(out: Path) -> list[dict[str, str]]:
    with (out / "split.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_groups_never_cross_splits_and_classes_are_balanced(dataset: Path, tmp_path: Path):
    result = split_dataset(dataset, tmp_path / "s", val=0.15, test=0.15, seed=3)
    rows = read_split_csv(tmp_path / "s")
    splits_of_group = defaultdict(set)
    for row in rows:
        splits_of_group[row["group"]].add(row["split"])
    assert len(splits_of_group) == 20 and all(len(s) == 1 for s in splits_of_group.values())
    assert all(not g.startswith("image:") for g in splits_of_group)

    listed = {s: (tmp_path / "s" / f"{s}.txt").read_text().splitlines() for s in SPLITS}
    everything = [p for s in SPLITS for p in listed[s]]
    assert len(everything) == len(set(everything)) == 60
    assert {s: len(listed[s]) for s in SPLITS} == result.images

    target = {"train": 0.70, "val": 0.15, "test": 0.15}
    for name in result.class_names:
        total = sum(result.boxes[s][name] for s in SPLITS)
        if total == 0:  # a context class these scenes never hold
            continue
        if name == "exposed_soil":  # 3 routes: one for each split
            assert all(result.boxes[s][name] > 0 for s in SPLITS)
            continue
        for s in SPLITS:
            assert abs(result.boxes[s][name] / total - target[s]) < 0.08, (name, s, result.boxes)
    for s in SPLITS:
        assert abs(result.images[s] / 60 - target[s]) < 0.08
    assert "train" in result.table() and "exposed_soil" in result.table()


def test_same_seed_same_lists_and_relative_paths_inside_the_dataset(dataset: Path, tmp_path: Path):
    a = split_dataset(dataset, tmp_path / "a", seed=7)
    b = split_dataset(dataset, tmp_path / "b", seed=7)
    for s in SPLITS:
        assert (tmp_path / "a" / f"{s}.txt").read_text() == (tmp_path / "b" / f"{s}.txt").read_text()
    assert not a.relative_paths and not b.relative_paths
    assert all(Path(p).is_absolute() for p in (tmp_path / "a" / "train.txt").read_text().splitlines())

    inside = dataset / "splits"
    result = split_dataset(dataset, dataset, seed=7)  # lists next to images: relocatable
    assert result.relative_paths
    lines = (dataset / "val.txt").read_text().splitlines()
    assert lines and all(p.startswith("./images/") and (dataset / p).is_file() for p in lines)
    data = yaml.safe_load((dataset / "data.yaml").read_text())
    assert data["train"] == "train.txt" and data["val"] == "val.txt" and data["test"] == "test.txt"
    assert "path" not in data and data["nc"] == len(data["names"])
    assert not inside.exists()
    forced = split_dataset(dataset, dataset, seed=7, absolute=True)
    assert not forced.relative_paths
    split_dataset(dataset, dataset, seed=7)  # back to relative for other tests


def test_no_test_split(dataset: Path, tmp_path: Path):
    result = split_dataset(dataset, tmp_path / "s", val=0.2, test=0)
    assert set(result.images) == {"train", "val"}
    assert not (tmp_path / "s" / "test.txt").exists()
    assert "test" not in yaml.safe_load((tmp_path / "s" / "data.yaml").read_text())


def test_group_by_regex_and_csv(dataset: Path, tmp_path: Path):
    result = split_dataset(dataset, tmp_path / "r", group_by=r"images/(route\d+)__")
    assert len(set(result.group_of_image.values())) == 20
    custom = tmp_path / "days.csv"
    rows = read_split_csv(tmp_path / "r")
    with custom.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "group"])
        for i, row in enumerate(rows):
            writer.writerow([row["image"], f"day{i % 4}"])
    result = split_dataset(dataset, tmp_path / "c", group_by=str(custom))
    assert set(result.group_of_image.values()) == {"day0", "day1", "day2", "day3"}
    assert sum(result.groups.values()) == 4
    with pytest.raises(InputError, match="group file not found"):
        split_dataset(dataset, tmp_path / "x", group_by=str(tmp_path / "nope.csv"))


def test_images_without_group_are_their_own_group_with_a_warning(dataset: Path, tmp_path: Path):
    result = split_dataset(dataset, tmp_path / "s", group_by=r"no-such-pattern")
    assert len(set(result.group_of_image.values())) == 60
    assert any("60 of 60 images have no group" in w for w in result.warnings)


def test_bad_fractions_and_too_few_groups(dataset: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match="val \\+ test < 1"):
        split_dataset(dataset, tmp_path / "s", val=0.6, test=0.5)
    with pytest.raises(ConfigError, match="--val must be > 0"):
        split_dataset(dataset, tmp_path / "s", val=0)
    with pytest.raises(InputError, match="only 1 group"):
        split_dataset(dataset, tmp_path / "s", group_by=r"images/")


def test_assignment_fills_every_requested_split():
    import numpy as np

    vectors = {"big": np.array([10.0, 1]), "mid": np.array([3.0, 1]), "small": np.array([1.0, 1])}
    assignment = assign_groups(vectors, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0)
    assert set(assignment.values()) == {"train", "val", "test"}
    assert assignment["big"] == "train"


def test_ultralytics_reads_the_split(dataset: Path, tmp_path: Path):
    pytest.importorskip("ultralytics")
    from training.ultralytics_env import prepare_ultralytics

    prepare_ultralytics()
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    result = split_dataset(dataset, tmp_path / "s", seed=1)
    data = check_det_dataset(str(tmp_path / "s" / "data.yaml"))
    assert data["nc"] == len(result.class_names)
    for split in ("train", "val"):
        loaded = build_yolo_dataset(get_cfg(), data[split], 4, data, mode="val")
        assert len(loaded) == result.images[split]
        boxes = sum(len(label["cls"]) for label in loaded.labels)
        assert boxes == sum(result.boxes[split].values())


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_round_trip_from_each_format(tmp_path: Path, fmt: str):
    """import -> check finds nothing -> split keeps routes whole and every class on every side."""
    (tmp_path / "mapping.yaml").write_text(MAPPING_YAML)
    src = write_source(fmt, tmp_path / "src", make_scenes(groups=8, per_group=2, seed=11))
    import_dataset(src, fmt, tmp_path / "data", mapping=tmp_path / "mapping.yaml")
    assert check_dataset(tmp_path / "data").issues == []
    result = split_dataset(tmp_path / "data", tmp_path / "data", val=0.25, test=0.25, seed=0)
    sides = defaultdict(set)
    for image, split in result.split_of_image.items():
        sides[result.group_of_image[image]].add(split)
    assert len(sides) == 8 and all(len(v) == 1 for v in sides.values())
    for name in result.class_names:
        if sum(result.boxes[s][name] for s in SPLITS) == 0:  # a context class these scenes never hold
            continue
        assert all(result.boxes[s][name] > 0 for s in SPLITS), (name, result.boxes)
