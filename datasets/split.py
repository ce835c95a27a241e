"""`dataset split`: train/val/test lists by group, balanced per class.

Every image belongs to a group (source video, route or day; from `groups.csv`, a regex, or else the
image alone). Whole groups are assigned, so frames of one video never land on both sides. Groups
are taken largest first (in boxes relative to each class's total; ties in a seeded random order) and
each goes to the split where it brings the per-class box counts and the image count closest to the
target fractions: the squared relative error summed over classes and splits grows least. Then a
class found on enough groups but missing from a split (or a split left with no image) is repaired
by moving or swapping a small group, so every split can be evaluated on every class; last, single
groups move while that brings the counts closer to the targets.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datasets.layout import class_names, dataset_images, label_path, parse_label_text
from datasets.writer import write_data_yaml
from detector.errors import ConfigError, InputError

SPLITS = ("train", "val", "test")


@dataclass
class SplitResult:
    out: Path
    class_names: list[str]
    split_of_image: dict[Path, str]
    group_of_image: dict[Path, str]
    boxes: dict[str, dict[str, int]]
    images: dict[str, int]
    groups: dict[str, int]
    relative_paths: bool
    warnings: list[str] = field(default_factory=list)

    def table(self) -> str:
        """Per-split per-class box counts, image and group counts, as aligned text."""
        splits = [s for s in SPLITS if s in self.images]
        width = max(len(n) for n in [*self.class_names, "images", "groups"]) + 2
        lines = [f"{'':{width}}" + "".join(f"{s:>10}" for s in splits)]
        for name in self.class_names:
            total = sum(self.boxes[s][name] for s in splits) or 1
            cells = "".join(
                f"{self.boxes[s][name]:>6} {100 * self.boxes[s][name] / total:2.0f}%"[-10:].rjust(10)
                for s in splits
            )
            lines.append(f"{name:{width}}{cells}")
        lines.append(f"{'images':{width}}" + "".join(f"{self.images[s]:>10}" for s in splits))
        lines.append(f"{'groups':{width}}" + "".join(f"{self.groups[s]:>10}" for s in splits))
        return "\n".join(lines)


def read_groups(root: Path, images: list[Path], group_by: str | None) -> tuple[dict[Path, str], list[str]]:
    """Group of each image: from a CSV (`image,group`), a regex on the path relative to `root` (first
    capture group, else the whole match), or `root/groups.csv`; images without one are their own group."""
    warnings: list[str] = []
    rel = {img: img.relative_to(root).as_posix() for img in images}
    found: dict[Path, str] = {}
    csv_path = Path(group_by) if group_by and Path(group_by).is_file() else None
    if group_by is None and (root / "groups.csv").is_file():
        csv_path = root / "groups.csv"
    if csv_path is not None:
        with csv_path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"image", "group"} <= set(reader.fieldnames):
                raise InputError("expected columns `image,group`", csv_path)
            table = {row["image"]: row["group"] for row in reader if row.get("group")}
        by_name = {Path(k).name: v for k, v in table.items()}
        for img in images:
            group = table.get(rel[img]) or table.get(str(img)) or by_name.get(img.name)
            if group:
                found[img] = group
    elif group_by:
        if group_by.endswith(".csv"):
            raise InputError("group file not found", group_by)
        try:
            regex = re.compile(group_by)
        except re.error as exc:
            raise ConfigError(f"--group-by {group_by!r} is neither a file nor a valid regex: {exc}") from exc
        for img in images:
            match = regex.search(rel[img])
            if match:
                found[img] = match.group(1) if regex.groups else match.group(0)
    alone = [img for img in images if img not in found]
    if alone:
        warnings.append(
            f"{len(alone)} of {len(images)} images have no group and form a group each: frames of one "
            "video may land on both sides (give --group-by groups.csv or a regex)"
        )
    return {img: found.get(img, f"image:{rel[img]}") for img in images}, warnings


# Objective units: relative squared error of box counts. One (split, class) pair with no box at all
# although the class is on enough groups to be on every side costs as much as a whole class misplaced.
COVERAGE_PENALTY = 1.0
REPAIR_CANDIDATES = 20
LOCAL_SEARCH_PASSES = 10


def assign_groups(vectors: dict[str, np.ndarray], fractions: dict[str, float], seed: int) -> dict[str, str]:
    """Group -> split assignment matching target fractions per dimension (see module doc).

    `vectors[group]` counts boxes per class plus, last, images. After the greedy pass, a class that
    sits on at least as many groups as there are splits but is missing from a split (or a split with
    no image) is repaired by moving a small group that has it there, or swapping it with a group of
    similar size, whichever keeps the counts closest to the targets."""
    names = sorted(vectors)
    splits = [s for s in SPLITS if fractions.get(s, 0) > 0]
    if len(names) < len(splits):
        raise InputError(f"only {len(names)} group(s): cannot fill {len(splits)} splits; give finer groups")
    matrix = np.stack([vectors[n] for n in names]).astype(float)
    totals = matrix.sum(axis=0)
    scale = np.where(totals > 0, totals, 1.0)
    target = np.array([[fractions[s] * t for t in totals] for s in splits])
    coverable = (matrix > 0).sum(axis=0) >= len(splits)
    weight = (matrix / scale).sum(axis=1)
    rng = random.Random(seed)
    tiebreak = list(range(len(names)))
    rng.shuffle(tiebreak)
    order = sorted(range(len(names)), key=lambda i: (-weight[i], tiebreak[i]))

    def cost(cur: np.ndarray) -> float:
        return float((((cur - target) / scale) ** 2).sum())

    def objective(cur: np.ndarray) -> float:
        return cost(cur) + COVERAGE_PENALTY * int(((cur == 0) & coverable).sum())

    current = np.zeros_like(target)
    assignment: dict[int, int] = {}
    for i in order:
        before = cost(current)
        best, best_delta = 0, None
        for s in range(len(splits)):
            current[s] += matrix[i]
            delta = cost(current) - before
            current[s] -= matrix[i]
            if best_delta is None or delta < best_delta - 1e-12:
                best, best_delta = s, delta
        assignment[i] = best
        current[best] += matrix[i]

    for _ in range(4 * target.size):  # coverage repair; each accepted step lowers the objective
        gaps = [
            (s, k)
            for s in range(len(splits))
            for k in range(matrix.shape[1])
            if coverable[k] and current[s, k] == 0
        ]
        if not gaps:
            break
        members: dict[int, list[int]] = {s: [] for s in range(len(splits))}
        for i, s in assignment.items():
            members[s].append(i)
        base = objective(current)
        best_step: tuple[float, int, int | None, int, int] | None = None
        for s, k in gaps:
            carriers = sorted(
                (g for g in range(len(names)) if matrix[g, k] > 0 and assignment[g] != s),
                key=lambda g: (weight[g], tiebreak[g]),
            )[:REPAIR_CANDIDATES]
            for g in carriers:
                d = assignment[g]
                if sum(1 for i in members[d] if matrix[i, k] > 0) < 2:
                    continue  # the donor split would lose the class
                partners = sorted(members[s], key=lambda h: (abs(weight[h] - weight[g]), tiebreak[h]))
                for h in [None, *partners[:8]]:
                    cur = current.copy()
                    cur[d] -= matrix[g]
                    cur[s] += matrix[g]
                    if h is not None:
                        cur[s] -= matrix[h]
                        cur[d] += matrix[h]
                    value = objective(cur)
                    if best_step is None or value < best_step[0] - 1e-12:
                        best_step = (value, g, h, d, s)
        if best_step is None or best_step[0] >= base - 1e-12:
            break
        _, g, h, d, s = best_step
        current[d] -= matrix[g]
        current[s] += matrix[g]
        assignment[g] = s
        if h is not None:
            current[s] -= matrix[h]
            current[d] += matrix[h]
            assignment[h] = d
    # Polish: move single groups while that lowers the objective (coverage included, so kept).
    for _ in range(LOCAL_SEARCH_PASSES):
        moved = 0
        for g in rng.sample(range(len(names)), len(names)):
            d = assignment[g]
            base = objective(current)
            best_move: tuple[float, int] | None = None
            for s in range(len(splits)):
                if s == d:
                    continue
                current[d] -= matrix[g]
                current[s] += matrix[g]
                value = objective(current)
                current[s] -= matrix[g]
                current[d] += matrix[g]
                if value < base - 1e-12 and (best_move is None or value < best_move[0]):
                    best_move = (value, s)
            if best_move is not None:
                current[d] -= matrix[g]
                current[best_move[1]] += matrix[g]
                assignment[g] = best_move[1]
                moved += 1
        if not moved:
            break
    return {names[i]: splits[s] for i, s in assignment.items()}


def split_dataset(
    root: str | Path,
    out: str | Path,
    val: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
    group_by: str | None = None,
    taxonomy_path: str | Path | None = None,
    absolute: bool = False,
) -> SplitResult:
    """Split the dataset in `root` into lists under `out` with a `data.yaml` ultralytics trains on."""
    root, out = Path(root).resolve(), Path(out).resolve()
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise ConfigError(f"fractions must be >= 0 and val + test < 1, got val={val}, test={test}")
    if val <= 0:
        raise ConfigError("--val must be > 0: ultralytics needs a validation split")
    images = dataset_images(root)
    if not images:
        raise InputError("no images found", root)
    names = class_names(root, taxonomy_path)
    group_of, warnings = read_groups(root, images, group_by)
    index = {n: i for i, n in enumerate(names)}
    vectors: dict[str, np.ndarray] = {}
    per_image: dict[Path, np.ndarray] = {}
    skipped = 0
    for img in images:
        vec = np.zeros(len(names) + 1)
        vec[-1] = 1  # the image itself, so negatives and image counts follow the fractions too
        label = label_path(img, root)
        if label.is_file():
            for lab in parse_label_text(label.read_text(encoding="utf-8-sig", errors="replace")):
                if lab.error or lab.cls is None or not 0 <= lab.cls < len(names):
                    skipped += 1
                    continue
                vec[lab.cls] += 1
        per_image[img] = vec
        group = group_of[img]
        vectors[group] = vectors.get(group, np.zeros(len(names) + 1)) + vec
    if skipped:
        warnings.append(f"skipped {skipped} malformed or unknown-class label line(s); run `dataset check`")
    fractions = {"train": 1 - val - test, "val": val, "test": test}
    split_of_group = assign_groups(vectors, fractions, seed)
    used = [s for s in SPLITS if fractions[s] > 0]
    out.mkdir(parents=True, exist_ok=True)
    relative = not absolute and all(img.is_relative_to(out) for img in images)
    lists: dict[str, list[str]] = {s: [] for s in used}
    split_of_image: dict[Path, str] = {}
    boxes = {s: dict.fromkeys(names, 0) for s in used}
    counts = {s: 0 for s in used}
    for img in images:
        split = split_of_group[group_of[img]]
        split_of_image[img] = split
        counts[split] += 1
        for name, i in index.items():
            boxes[split][name] += int(per_image[img][i])
        lists[split].append("./" + img.relative_to(out).as_posix() if relative else str(img))
    for split in used:
        if not lists[split]:
            warnings.append(f"split {split!r} is empty")
        (out / f"{split}.txt").write_text("".join(f"{p}\n" for p in lists[split]), encoding="utf-8")
    for stale in set(SPLITS) - set(used):
        if (out / f"{stale}.txt").is_file():
            os.remove(out / f"{stale}.txt")
    write_data_yaml(
        out / "data.yaml",
        names,
        {s: f"{s}.txt" for s in used},
        f"Written by `streetwatch dataset split {root}` (val={val}, test={test}, seed={seed}).\n"
        "Groups (video/route/day) never cross splits; see split.csv.",
    )
    with (out / "split.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "group", "split"])
        for img in images:
            writer.writerow([str(img), group_of[img], split_of_image[img]])
    groups = {s: sum(1 for g in set(group_of.values()) if split_of_group[g] == s) for s in used}
    result = SplitResult(
        out=out,
        class_names=names,
        split_of_image=split_of_image,
        group_of_image=group_of,
        boxes=boxes,
        images=counts,
        groups=groups,
        relative_paths=relative,
        warnings=warnings,
    )
    (out / "split.json").write_text(
        json.dumps(
            {
                "source": str(root),
                "fractions": fractions,
                "seed": seed,
                "group_by": group_by,
                "images": counts,
                "groups": groups,
                "boxes": boxes,
                "relative_paths": relative,
            },
            indent=2,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return result
