"""`dataset import`: each of the five formats, written by hand from the same generated scenes, imports
into the same ultralytics dataset; class mapping, groups, and clear errors for broken input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from test_dataset_builders import (
    EXPECTED_CLASS,
    MAPPING_YAML,
    SOURCE_CLASSES,
    WRITERS,
    Scene,
    coco_dict,
    cvat_xml,
    labelstudio_tasks,
    make_image,
    make_scenes,
    read_yolo_labels,
    write_source,
)

from datasets.dataset_import import import_dataset
from detector.errors import ConfigError, InputError
from detector.taxonomy import load_taxonomy

NAMES = load_taxonomy().model_names


@pytest.fixture
def mapping(tmp_path: Path) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(MAPPING_YAML)
    return path


def expected_rows(scene: Scene) -> list[list[float]]:
    rows = []
    for cls, x1, y1, x2, y2 in scene.boxes:
        if cls not in EXPECTED_CLASS:
            continue
        rows.append(
            [
                NAMES.index(EXPECTED_CLASS[cls]),
                (x1 + x2) / 2 / scene.width,
                (y1 + y2) / 2 / scene.height,
                (x2 - x1) / scene.width,
                (y2 - y1) / scene.height,
            ]
        )
    return sorted(rows)


def read_groups(out: Path) -> list[dict[str, str]]:
    with (out / "groups.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_each_format_imports_to_the_same_boxes_classes_and_groups(tmp_path: Path, mapping: Path, fmt: str):
    scenes = make_scenes(groups=3, per_group=2)
    src = write_source(fmt, tmp_path / "src", scenes)
    summary = import_dataset(src, fmt, tmp_path / "out", mapping=mapping)
    out = tmp_path / "out"

    assert summary.images == len(scenes) and summary.unlabelled == 0
    pedestrians = sum(b[0] == "pedestrian" for s in scenes for b in s.boxes)
    assert summary.outcome.ignored["pedestrian"] == pedestrians > 0
    assert (out / "classes.txt").read_text().split() == NAMES
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == dict(enumerate(NAMES)) and data["nc"] == len(NAMES)
    rows = read_groups(out)
    assert len(rows) == len(scenes)
    by_flat_name = {s.name.replace("/", "_"): s for s in scenes}
    for row in rows:
        scene = by_flat_name[row["source_name"].replace("/", "_")]
        assert row["group"] == scene.group
        image = out / row["image"]
        assert image.is_file()
        labels = sorted(read_yolo_labels((out / "labels" / image.name).with_suffix(".txt")))
        expected = expected_rows(scene)
        assert len(labels) == len(expected)
        for got, want in zip(labels, expected, strict=True):
            assert got[0] == want[0]
            assert got[1:] == pytest.approx(want[1:], abs=2e-4)
    provenance = json.loads((out / "import.json").read_text())
    assert provenance["format"] == fmt and sum(provenance["boxes_per_class"].values()) == sum(
        len(expected_rows(s)) for s in scenes
    )


def test_unmapped_names_are_listed_with_counts_and_nothing_is_written(tmp_path: Path):
    scenes = make_scenes(groups=2, per_group=2)
    src = write_source("coco", tmp_path / "src", scenes)
    partial = tmp_path / "partial.yaml"
    partial.write_text("mapping:\n  car: vehicle\n  stall: out_of_store_vending\n")
    with pytest.raises(InputError) as info:
        import_dataset(src, "coco", tmp_path / "out", mapping=partial)
    message = str(info.value)
    n_person = sum(b[0] == "pedestrian" for s in scenes for b in s.boxes)
    assert f"'pedestrian' ({n_person} boxes)" in message and "'soil'" in message
    assert "--drop-unmapped" in message
    assert str(partial) in message
    assert not (tmp_path / "out").exists()

    summary = import_dataset(src, "coco", tmp_path / "out", mapping=partial, drop_unmapped=True)
    assert summary.outcome.unmapped["pedestrian"] == n_person
    assert set(summary.boxes_per_class) == set(NAMES)
    assert {n for n, c in summary.boxes_per_class.items() if c} == {"vehicle", "out_of_store_vending"}


def test_source_using_taxonomy_names_needs_no_mapping_and_case_is_forgiven(tmp_path: Path):
    src = tmp_path / "src"
    make_image(src / "images" / "a.jpg", 100, 80, seed=1)
    (src / "labels").mkdir()
    (src / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n")
    (src / "classes.txt").write_text("Vehicle\nexposed-garbage\n")
    summary = import_dataset(src, "yolo", tmp_path / "out")
    assert summary.boxes_per_class["vehicle"] == 1 and summary.boxes_per_class["exposed_garbage"] == 1
    rows = sorted(read_yolo_labels(tmp_path / "out" / "labels" / "a.txt"))
    assert [r[0] for r in rows] == sorted([NAMES.index("vehicle"), NAMES.index("exposed_garbage")])


def test_city_taxonomy_file_changes_the_class_ids(tmp_path: Path, mapping: Path):
    data = yaml.safe_load(Path(load_taxonomy.__globals__["DEFAULT_TAXONOMY_PATH"]).read_text())
    data["classes"] = list(reversed(data["classes"]))
    for i, cls in enumerate(data["classes"]):
        cls["id"] = i
    tax_file = tmp_path / "city.yaml"
    tax_file.write_text(yaml.safe_dump(data, allow_unicode=True))
    scenes = make_scenes(groups=1, per_group=1)
    src = write_source("coco", tmp_path / "src", scenes)
    import_dataset(src, "coco", tmp_path / "out", mapping=mapping, taxonomy=tax_file)
    names = (tmp_path / "out" / "classes.txt").read_text().split()
    assert names[0] == "two_wheeler" and "non_motor_parking" not in names  # reversed; rule-only left out
    labels = read_yolo_labels(next((tmp_path / "out" / "labels").glob("*.txt")))
    n_car = sum(b[0] == "car" for b in scenes[0].boxes)
    assert names.index("vehicle") == 3 and sum(1 for r in labels if r[0] == 3) == n_car


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("mapping:\n  car: automobile\n", "'car' maps to 'automobile', which is not a taxonomy class"),
        ("mapping: [car, vehicle]\n", "mapping"),
        ("mapping:\n  car: [vehicle\n", "malformed YAML"),
    ],
)
def test_bad_mapping_file_names_the_file(tmp_path: Path, content: str, message: str):
    src = write_source("coco", tmp_path / "src", make_scenes(groups=1, per_group=1))
    bad = tmp_path / "bad-mapping.yaml"
    bad.write_text(content)
    with pytest.raises(ConfigError) as info:
        import_dataset(src, "coco", tmp_path / "out", mapping=bad)
    assert message in str(info.value) and str(bad) in str(info.value)


def _break_coco(root: Path) -> Path:
    path = write_source("coco", root, make_scenes(1, 1))
    path.write_text(path.read_text()[:-40])
    return path


def _break_coco_bbox(root: Path) -> Path:
    path = write_source("coco", root, make_scenes(1, 1))
    data = json.loads(path.read_text())
    data["annotations"][0]["bbox"] = [1, 2, 3]
    path.write_text(json.dumps(data))
    return path


def _break_coco_category(root: Path) -> Path:
    path = write_source("coco", root, make_scenes(1, 1))
    data = json.loads(path.read_text())
    data["annotations"][0]["category_id"] = 99
    path.write_text(json.dumps(data))
    return path


def _break_voc(root: Path) -> Path:
    write_source("voc", root, make_scenes(1, 2))
    xml = sorted((root / "Annotations").glob("*.xml"))[1]
    xml.write_text(xml.read_text().replace("</annotation>", ""))
    return root


def _break_voc_box(root: Path) -> Path:
    write_source("voc", root, make_scenes(1, 1))
    xml = next((root / "Annotations").glob("*.xml"))
    xml.write_text(xml.read_text().replace("<xmax>", "<xmax>abc", 1))
    return root


def _break_cvat(root: Path) -> Path:
    path = write_source("cvat", root, make_scenes(1, 1))
    path.write_text(path.read_text().replace("<box ", "<box <", 1))
    return path


def _cvat_video(root: Path) -> Path:
    path = write_source("cvat", root, make_scenes(1, 1))
    path.write_text(
        path.read_text().replace("</annotations>", '<track id="0" label="car"></track></annotations>')
    )
    return path


def _break_labelstudio(root: Path) -> Path:
    path = write_source("labelstudio", root, make_scenes(1, 1))
    path.write_text(path.read_text().replace('"value"', '"value" "', 1))
    return path


def _labelstudio_min(root: Path) -> Path:
    path = write_source("labelstudio", root, make_scenes(1, 1))
    path.write_text(json.dumps([{"image": "/data/upload/1/x.jpg", "label": []}]))
    return path


def _break_yolo(root: Path) -> Path:
    write_source("yolo", root, make_scenes(1, 1))
    label = next((root / "labels").rglob("*.txt"))
    label.write_text(label.read_text() + "3 0.5 0.5 0.1\n")
    return root


def _yolo_unknown_id(root: Path) -> Path:
    write_source("yolo", root, make_scenes(1, 1))
    label = next((root / "labels").rglob("*.txt"))
    label.write_text(label.read_text() + "42 0.5 0.5 0.1 0.1\n")
    return root


@pytest.mark.parametrize(
    ("fmt", "breaker", "message", "names"),
    [
        ("coco", _break_coco, "malformed JSON", "instances_default.json"),
        ("coco", _break_coco_bbox, "annotations[0]: `bbox` must be", "instances_default.json"),
        ("coco", _break_coco_category, "category_id 99", "instances_default.json"),
        ("voc", _break_voc, "malformed XML", "route0_frame_0001.xml"),
        ("voc", _break_voc_box, "expected a number", "route0_frame_0000.xml"),
        ("cvat", _break_cvat, "malformed XML", "annotations.xml"),
        ("cvat", _cvat_video, "CVAT for video", "annotations.xml"),
        ("labelstudio", _break_labelstudio, "malformed JSON", "export.json"),
        ("labelstudio", _labelstudio_min, "JSON-MIN", "export.json"),
        ("yolo", _break_yolo, "expected 5 values", "frame_0000.txt:"),
        ("yolo", _yolo_unknown_id, "class id 42", "frame_0000.txt:"),
    ],
)
def test_broken_annotation_files_give_one_line_naming_the_file(
    tmp_path, mapping, fmt, breaker, message, names
):
    src = breaker(tmp_path / "src")
    with pytest.raises(InputError) as info:
        import_dataset(src, fmt, tmp_path / "out", mapping=mapping)
    text = str(info.value)
    assert message in text and names in text and "\n" not in text
    assert not (tmp_path / "out").exists()


def test_missing_image_fails_unless_skipped(tmp_path: Path, mapping: Path):
    scenes = make_scenes(groups=2, per_group=2)
    src = write_source("coco", tmp_path / "src", scenes)
    (tmp_path / "src" / "images" / scenes[1].name).unlink()
    with pytest.raises(InputError, match=r"1 referenced image\(s\) missing.*route0/frame_0001.jpg"):
        import_dataset(src, "coco", tmp_path / "out", mapping=mapping)
    summary = import_dataset(src, "coco", tmp_path / "out", mapping=mapping, skip_missing=True)
    assert summary.images == len(scenes) - 1
    assert (
        "route0/frame_0001.jpg"
        in json.loads((tmp_path / "out" / "import.json").read_text())["skipped_images"][0]
    )


def test_images_without_annotation_get_no_label_file(tmp_path: Path, mapping: Path):
    scenes = make_scenes(groups=1, per_group=2)
    write_source("yolo", tmp_path / "yolo", scenes)
    (tmp_path / "yolo" / "labels" / scenes[0].name).with_suffix(".txt").unlink()
    summary = import_dataset(tmp_path / "yolo", "yolo", tmp_path / "out", mapping=mapping)
    assert summary.unlabelled == 1 and any("no label file" in w for w in summary.warnings)
    assert len(list((tmp_path / "out" / "labels").glob("*.txt"))) == 1

    write_source("voc", tmp_path / "voc", scenes)
    make_image(tmp_path / "voc" / "JPEGImages" / "extra.png", 64, 48, seed=77)
    summary = import_dataset(tmp_path / "voc", "voc", tmp_path / "out-voc", mapping=mapping)
    assert summary.images == 3 and summary.unlabelled == 1
    assert not (tmp_path / "out-voc" / "labels" / "extra.txt").exists()
    assert (tmp_path / "out-voc" / "images" / "extra.png").is_file()


def test_image_without_objects_gets_an_empty_label_file(tmp_path: Path, mapping: Path):
    scenes = make_scenes(groups=1, per_group=2)
    scenes[0].boxes = []
    src = write_source("cvat", tmp_path / "src", scenes)
    import_dataset(src, "cvat", tmp_path / "out", mapping=mapping)
    label = tmp_path / "out" / "labels" / "route0__frame_0000.txt"
    assert label.is_file() and label.read_text() == ""


def test_cvat_project_export_groups_by_task_and_rotated_boxes_become_bounds(tmp_path: Path, mapping: Path):
    scenes = make_scenes(groups=2, per_group=2)
    for i, scene in enumerate(scenes):  # flat file names: the task is the only hint of the route
        make_image(
            tmp_path / "src" / "images" / scene.name.split("/")[-1].replace(".jpg", f"_{i}.jpg"),
            scene.width,
            scene.height,
            seed=i,
        )
        scene.name = scene.name.split("/")[-1].replace(".jpg", f"_{i}.jpg")
    scenes[0].boxes = [("car", 10.0, 10.0, 30.0, 20.0)]
    xml = cvat_xml(scenes, task_names={"route0": 11, "route1": 12})
    xml = xml.replace('z_order="0"></box>', 'z_order="0" rotation="90"></box>', 1)
    (tmp_path / "src" / "annotations.xml").write_text(xml)
    import_dataset(tmp_path / "src", "cvat", tmp_path / "out", mapping=mapping)
    groups = {row["source_name"]: row["group"] for row in read_groups(tmp_path / "out")}
    assert groups == {s.name: f"task:{s.group}" for s in scenes}
    (row,) = read_yolo_labels(tmp_path / "out" / "labels" / Path(scenes[0].name).with_suffix(".txt").name)
    w, h = scenes[0].width, scenes[0].height
    assert row[1:] == pytest.approx([20 / w, 15 / h, 10 / w, 20 / h], abs=1e-5)  # 20x10 turned upright


def test_labelstudio_last_uncancelled_annotation_local_files_and_rotation(tmp_path: Path, mapping: Path):
    src = tmp_path / "src"
    make_image(src / "route9" / "a.jpg", 200, 100, seed=1)
    make_image(src / "route9" / "b.jpg", 200, 100, seed=2)
    tasks = labelstudio_tasks([Scene("a.jpg", 200, 100, "x", [("car", 20, 10, 60, 30)])])
    task = tasks[0]
    task["data"] = {"image": "/data/local-files/?d=route9/a.jpg"}
    cancelled = json.loads(json.dumps(task["annotations"][0]))
    cancelled["was_cancelled"] = True
    cancelled["result"][0]["value"]["rectanglelabels"] = ["pedestrian"]
    newer = json.loads(json.dumps(task["annotations"][0]))
    newer["result"][0]["value"]["rotation"] = 90  # about the top-left corner (20, 10)
    task["annotations"] = [task["annotations"][0], newer, cancelled]
    tasks.append({"id": 2, "data": {"image": "/data/local-files/?d=route9%2Fb.jpg"}, "annotations": []})
    (src / "export.json").write_text(json.dumps(tasks))
    summary = import_dataset(src / "export.json", "labelstudio", tmp_path / "out", mapping=mapping)
    assert summary.images == 2 and summary.unlabelled == 1
    groups = {r["source_name"]: r["group"] for r in read_groups(tmp_path / "out")}
    assert groups == {"route9/a.jpg": "route9", "route9/b.jpg": "route9"}
    (row,) = read_yolo_labels(tmp_path / "out" / "labels" / "route9__a.txt")
    # 40x20 box rotated 90° clockwise about (20, 10) spans x 0..20, y 10..50
    assert row == pytest.approx([NAMES.index("vehicle"), 10 / 200, 30 / 100, 20 / 200, 40 / 100], abs=1e-5)
    assert not (tmp_path / "out" / "labels" / "route9__b.txt").exists()


def test_coco_crowd_boxes_skipped_and_video_id_is_the_group(tmp_path: Path, mapping: Path):
    scenes = make_scenes(groups=1, per_group=2)
    src = write_source("coco", tmp_path / "src", scenes)
    data = coco_dict(scenes)
    data["images"][0]["video_id"] = 314
    data["annotations"][0]["iscrowd"] = 1
    src.write_text(json.dumps(data))
    summary = import_dataset(src, "coco", tmp_path / "out", mapping=mapping)
    assert any("1 crowd annotation" in w for w in summary.warnings)
    groups = {r["source_name"]: r["group"] for r in read_groups(tmp_path / "out")}
    assert groups[scenes[0].name] == "314" and groups[scenes[1].name] == "route0"


def test_group_regex_overrides_groups(tmp_path: Path, mapping: Path):
    scenes = make_scenes(groups=2, per_group=2)
    src = write_source("coco", tmp_path / "src", scenes)
    import_dataset(src, "coco", tmp_path / "out", mapping=mapping, group_regex=r"frame_(\d{3})")
    assert {r["group"] for r in read_groups(tmp_path / "out")} == {"000"}
    with pytest.raises(ConfigError, match="--group-regex"):
        import_dataset(src, "coco", tmp_path / "out2", mapping=mapping, group_regex="(")


def test_output_must_be_empty_and_source_must_exist(tmp_path: Path, mapping: Path):
    src = write_source("coco", tmp_path / "src", make_scenes(1, 1))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        import_dataset(src, "coco", tmp_path / "out", mapping=mapping)
    with pytest.raises(InputError, match="does not exist"):
        import_dataset(tmp_path / "nope", "coco", tmp_path / "out2", mapping=mapping)
    with pytest.raises(ConfigError, match="unknown dataset format"):
        import_dataset(src, "kitti", tmp_path / "out3", mapping=mapping)


def test_all_source_classes_of_the_builders_are_covered():
    assert set(SOURCE_CLASSES) - set(EXPECTED_CLASS) == {"pedestrian"}


def test_reimporting_an_imported_dataset_keeps_boxes_and_groups(tmp_path: Path, mapping: Path):
    scenes = make_scenes(groups=2, per_group=2)
    src = write_source("voc", tmp_path / "src", scenes)
    import_dataset(src, "voc", tmp_path / "first", mapping=mapping, link=True)
    assert all(p.is_symlink() for p in (tmp_path / "first" / "images").iterdir())
    import_dataset(tmp_path / "first", "yolo", tmp_path / "second")  # taxonomy names: no mapping needed
    first, second = read_groups(tmp_path / "first"), read_groups(tmp_path / "second")
    assert [r["group"] for r in first] == [r["group"] for r in second] == [s.group for s in scenes]
    for a, b in zip(first, second, strict=True):
        rows_a = sorted(
            read_yolo_labels(
                (tmp_path / "first" / a["image"].replace("images/", "labels/", 1)).with_suffix(".txt")
            )
        )
        rows_b = sorted(
            read_yolo_labels(
                (tmp_path / "second" / b["image"].replace("images/", "labels/", 1)).with_suffix(".txt")
            )
        )
        assert len(rows_a) == len(rows_b) > 0
        for ra, rb in zip(rows_a, rows_b, strict=True):
            assert ra == pytest.approx(rb, abs=2e-6)


def test_sizes_left_out_resized_and_reshaped_images(tmp_path: Path, mapping: Path):
    scenes = make_scenes(groups=1, per_group=3)
    src = write_source("coco", tmp_path / "src", scenes)
    data = coco_dict(scenes)
    del data["images"][0]["width"], data["images"][0]["height"]  # size read from the file
    src.write_text(json.dumps(data))
    # second image resized to half after labelling; third replaced by one of another shape
    make_image(
        tmp_path / "src" / "images" / scenes[1].name, scenes[1].width // 2, scenes[1].height // 2, seed=5
    )
    make_image(tmp_path / "src" / "images" / scenes[2].name, scenes[2].height, scenes[2].width, seed=6)
    summary = import_dataset(src, "coco", tmp_path / "out", mapping=mapping)
    assert any("1 image(s) were resized" in w and "frame_0001" in w for w in summary.warnings)
    assert any("1 image(s) differ in shape" in w and "frame_0002" in w for w in summary.warnings)
    for scene in scenes[:2]:  # normalised boxes are the same whatever the stored size
        label = tmp_path / "out" / "labels" / scene.name.replace("/", "__").replace(".jpg", ".txt")
        assert len(read_yolo_labels(label)) == len(expected_rows(scene))
        for got, want in zip(sorted(read_yolo_labels(label)), expected_rows(scene), strict=True):
            assert got[1:] == pytest.approx(want[1:], abs=2e-4)
    assert check_clean(tmp_path / "out", ignore={"images/route0__frame_0002.jpg"})


def check_clean(root: Path, ignore: set[str]) -> bool:
    from datasets.check import check_dataset

    return all(
        i.file in ignore or i.file.replace("labels/", "images/").replace(".txt", ".jpg") in ignore
        for i in check_dataset(root).issues
    )


def test_labelstudio_upload_kept_under_its_hashed_name(tmp_path: Path, mapping: Path):
    src = tmp_path / "src"
    make_image(src / "media" / "1a2b3c4d-frame.jpg", 80, 60, seed=1)  # not under a "3/" folder
    tasks = labelstudio_tasks([Scene("frame.jpg", 80, 60, "x", [("car", 10, 10, 30, 30)])])
    tasks[0]["data"] = {"image": "/data/upload/3/1a2b3c4d-frame.jpg"}
    (src / "export.json").write_text(json.dumps(tasks))
    summary = import_dataset(src / "export.json", "labelstudio", tmp_path / "out", mapping=mapping)
    assert summary.images == 1 and summary.boxes_per_class["vehicle"] == 1


def test_coco_paths_from_another_machine_are_found_by_their_trailing_folders(tmp_path: Path, mapping: Path):
    scenes = make_scenes(groups=2, per_group=2)
    src = write_source("coco", tmp_path / "src", scenes)
    data = coco_dict(scenes)
    for img in data["images"]:
        img["file_name"] = "/mnt/nas/annotators/export/" + img["file_name"]
    src.write_text(json.dumps(data))
    summary = import_dataset(src, "coco", tmp_path / "out", mapping=mapping)
    assert summary.images == 4 and summary.groups == 2
    rows = read_groups(tmp_path / "out")
    assert [(r["source_name"], r["group"]) for r in rows] == [(s.name, s.group) for s in scenes]


def test_an_ambiguous_bare_file_name_is_not_guessed(tmp_path: Path, mapping: Path):
    src = tmp_path / "src"
    make_image(src / "images" / "day1" / "frame.jpg", 64, 48, seed=1)
    make_image(src / "images" / "day2" / "frame.jpg", 64, 48, seed=2)
    scene = Scene("frame.jpg", 64, 48, "x", [("car", 1, 1, 20, 20)])
    (src / "annotations.json").write_text(json.dumps(coco_dict([scene])))
    with pytest.raises(InputError, match="frame.jpg: not found"):
        import_dataset(src / "annotations.json", "coco", tmp_path / "out", mapping=mapping)
    summary = import_dataset(
        src / "annotations.json",
        "coco",
        tmp_path / "out",
        mapping=mapping,
        images_dir=src / "images" / "day2",
    )
    assert summary.images == 1
    assert (tmp_path / "out" / "images" / "frame.jpg").read_bytes() == (
        src / "images/day2/frame.jpg"
    ).read_bytes()
