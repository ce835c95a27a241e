"""`dataset stats`: per-class counts and box sizes from the label files."""

from __future__ import annotations

from pathlib import Path

from test_dataset_builders import make_image

from datasets.stats import SIZE_BINS, dataset_stats


def test_counts_and_size_bins(tmp_path: Path):
    make_image(tmp_path / "images" / "a.jpg", 200, 100, seed=1)
    make_image(tmp_path / "images" / "b.jpg", 200, 100, seed=2)
    make_image(tmp_path / "images" / "c.jpg", 200, 100, seed=3)
    (tmp_path / "labels").mkdir()
    # vehicle 40x20 px (sqrt 28.3 -> 16-32), vehicle 100x50 (70.7 -> 64-128), bin 10x10 (8-16)
    (tmp_path / "labels" / "a.txt").write_text("5 0.5 0.5 0.2 0.2\n5 0.5 0.5 0.5 0.5\n")
    (tmp_path / "labels" / "b.txt").write_text("3 0.5 0.5 0.05 0.1\n")
    (tmp_path / "labels" / "c.txt").write_text("")
    stats = dataset_stats(tmp_path)
    assert stats.images == 3 and stats.images_without_objects == 1
    assert stats.boxes["vehicle"] == 2 and stats.images_with["vehicle"] == 1
    assert stats.boxes["overflowing_bin"] == 1
    assert stats.sizes["vehicle"][SIZE_BINS.index(16)] == 1
    assert stats.sizes["vehicle"][SIZE_BINS.index(64)] == 1
    assert stats.sizes["overflowing_bin"][SIZE_BINS.index(8)] == 1
    text = stats.text()
    assert "3 images, 1 without objects, 3 boxes" in text
