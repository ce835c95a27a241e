"""`dataset check`: every kind of broken file is reported at the right file (and line), clean files
are not, and nothing is changed."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from test_dataset_builders import MAPPING_YAML, WRITERS, make_image, make_scenes, write_source

from datasets.check import check_dataset, write_json
from datasets.dataset_import import import_dataset


def imported(tmp_path: Path, fmt: str = "coco", scenes=None) -> Path:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING_YAML)
    src = write_source(fmt, tmp_path / f"src-{fmt}", scenes or make_scenes(groups=2, per_group=3))
    out = tmp_path / f"out-{fmt}"
    import_dataset(src, fmt, out, mapping=mapping)
    return out


def snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def found(report) -> set[tuple[str, str]]:
    return {(i.file, i.kind) for i in report.issues}


def test_clean_import_has_no_issues(tmp_path: Path):
    out = imported(tmp_path)
    report = check_dataset(out)
    assert report.issues == []
    assert report.images == 6 and report.label_files == 6
    assert sum(report.boxes_per_class.values()) == sum(
        len(Path(p).read_text().splitlines()) for p in (out / "labels").glob("*.txt")
    )


def test_every_problem_is_reported_at_its_file_and_nothing_is_changed(tmp_path: Path):
    out = imported(tmp_path)
    images = sorted((out / "images").glob("*.jpg"))
    labels = out / "labels"
    # truncated JPEG (decoding fails) and a JPEG cut just before its end marker
    data = images[0].read_bytes()
    images[0].write_bytes(data[: len(data) // 2])
    data = images[1].read_bytes()
    images[1].write_bytes(data[:-2])
    # not an image at all
    (out / "images" / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    (labels / "garbage.txt").write_text("")
    # box problems in one label file, one per line
    bad = labels / images[2].with_suffix(".txt").name
    bad.write_text(
        "0 0.5 0.5 0.2 0.2\n"  # fine
        "0 0.95 0.5 0.2 0.2\n"  # sticks out on the right
        "1 0.5 0.5 0 0.1\n"  # zero width
        "9 0.5 0.5 0.1 0.1\n"  # unknown class id
        "2 0.5 0.5\n"  # malformed
        "0 0.5 0.5 0.2 0.2\n"  # same box twice
        "3 0.5 0.5 0.001 0.3\n"  # thinner than a pixel
    )
    # exact duplicate of another image (with its own label file)
    shutil.copyfile(images[3], out / "images" / "zz_copy.jpg")
    shutil.copyfile(labels / images[3].with_suffix(".txt").name, labels / "zz_copy.txt")
    # image without label file, label file without image
    make_image(out / "images" / "unlabelled.jpg", 64, 48, seed=99)
    (labels / "ghost.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    before = snapshot(out)

    report = check_dataset(out)

    assert snapshot(out) == before
    rel_label = f"labels/{bad.name}"
    expected = {
        (f"images/{images[0].name}", "corrupt-image"),
        (f"images/{images[1].name}", "corrupt-image"),
        ("images/garbage.png", "corrupt-image"),
        (rel_label, "box-outside"),
        (rel_label, "zero-area"),
        (rel_label, "unknown-class"),
        (rel_label, "malformed-label"),
        (rel_label, "duplicate-box"),
        ("images/zz_copy.jpg", "duplicate-image"),
        ("images/unlabelled.jpg", "missing-label"),
        ("labels/ghost.txt", "orphan-label"),
    }
    assert found(report) == expected
    lines = {(i.kind, i.line) for i in report.issues if i.file == rel_label}
    assert lines == {
        ("box-outside", 2),
        ("zero-area", 3),
        ("unknown-class", 4),
        ("malformed-label", 5),
        ("duplicate-box", 6),
        ("zero-area", 7),
    }
    truncated = next(i for i in report.issues if i.file == f"images/{images[1].name}")
    assert "end-of-image" in truncated.message or "truncated" in truncated.message
    dup = next(i for i in report.issues if i.kind == "duplicate-image")
    assert images[3].name in dup.message
    assert {i.kind for i in report.warnings} == {"orphan-label", "duplicate-box"}
    assert len(report.errors) == len(report.issues) - 2

    write_json(report, tmp_path / "report.json")
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["summary"]["errors"] == len(report.errors)
    assert {(i["file"], i["kind"]) for i in data["issues"]} == expected
    text = report.summary_text()
    assert f"errors: {len(report.errors)}" in text and "corrupt-image 3" in text


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_bad_boxes_in_any_source_format_are_kept_by_import_and_found_by_check(tmp_path: Path, fmt: str):
    scenes = make_scenes(groups=1, per_group=2)
    w, h = scenes[0].width, scenes[0].height
    scenes[0].boxes = [("car", w - 10.0, 5.0, w + 30.0, 25.0), ("trash", 20.0, 20.0, 20.0, 40.0)]
    out = imported(tmp_path, fmt, scenes)
    report = check_dataset(out)
    stem = "route0_frame_0000" if fmt == "labelstudio" else "route0__frame_0000"  # uploads are flat
    assert found(report) == {(f"labels/{stem}.txt", "box-outside"), (f"labels/{stem}.txt", "zero-area")}
    outside = next(i for i in report.issues if i.kind == "box-outside")
    assert f"{w}x{h} image" in outside.message


def test_uses_dataset_class_names_else_taxonomy(tmp_path: Path):
    root = tmp_path / "plain"
    make_image(root / "images" / "a.jpg", 50, 40, seed=3)
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("5 0.5 0.5 0.2 0.2\n")
    report = check_dataset(root)  # no classes.txt: the taxonomy's 6 classes
    assert report.issues == [] and report.boxes_per_class["vehicle"] == 1
    (root / "classes.txt").write_text("only_one\n")
    report = check_dataset(root)
    assert found(report) == {("labels/a.txt", "unknown-class")}


def test_jpeg_with_a_trailer_after_the_image_is_not_damage(tmp_path: Path):
    """Phones append data after the end-of-image marker (motion-photo video); that is a valid JPEG."""
    root = tmp_path / "ds"
    image = make_image(root / "images" / "phone.jpg", 64, 48, seed=4)
    image.write_bytes(image.read_bytes() + b"ftypmp42" + bytes(range(256)) * 4)
    (root / "labels").mkdir()
    (root / "labels" / "phone.txt").write_text("")
    assert check_dataset(root).issues == []
    image.write_bytes(image.read_bytes()[:-1100])  # now cut inside the image data
    assert found(check_dataset(root)) == {("images/phone.jpg", "corrupt-image")}


def test_exif_rotated_photo_is_checked_as_loaders_turn_it_and_tiny_images_are_errors(tmp_path: Path):
    from PIL import Image

    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    pixels = Image.new("RGB", (200, 100), (120, 80, 40))  # stored landscape ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... shown portrait (100x200) by OpenCV and ultralytics
    pixels.save(root / "images" / "phone.jpg", exif=exif)
    # a box in the lower half of the portrait view: outside the stored landscape height
    (root / "labels" / "phone.txt").write_text("5 0.5 0.75 0.5 0.4\n")
    make_image(root / "images" / "tiny.png", 8, 30, seed=1)
    (root / "labels" / "tiny.txt").write_text("")
    report = check_dataset(root)
    assert found(report) == {("images/phone.jpg", "exif-rotated"), ("images/tiny.png", "tiny-image")}
    assert "100x200" in next(i.message for i in report.issues if i.kind == "exif-rotated")
    (root / "labels" / "phone.txt").write_text("5 0.75 0.5 0.6 0.4\n")  # fits landscape, not portrait
    assert ("labels/phone.txt", "box-outside") in found(check_dataset(root))
