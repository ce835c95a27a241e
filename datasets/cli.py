"""Commands of the `datasets` package: `dataset import|check|split|stats` and `synth`.

Heavy imports (PIL, numpy, the importers) happen inside the commands so `streetwatch --help` stays fast.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from datasets.synth import cli as synth_cli


class SourceFormat(StrEnum):
    yolo = "yolo"
    coco = "coco"
    voc = "voc"
    cvat = "cvat"
    labelstudio = "labelstudio"


TAXONOMY_OPTION = typer.Option(None, "--taxonomy", help="Taxonomy YAML (default: the bundled taxonomy.yaml).")


def import_command(
    src: Path = typer.Argument(..., help="Source dataset: folder or annotation file."),
    fmt: SourceFormat = typer.Option(..., "--format", "-f", help="Annotation format of SRC."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (must not exist or be empty)."),
    mapping: Path | None = typer.Option(
        None, "--mapping", "-m", help="YAML: source class name -> taxonomy class or `ignore`."
    ),
    taxonomy: Path | None = TAXONOMY_OPTION,
    drop_unmapped: bool = typer.Option(
        False, "--drop-unmapped", help="Drop boxes of unmapped classes instead of failing."
    ),
    skip_missing: bool = typer.Option(
        False, "--skip-missing", help="Skip missing or unreadable images instead of failing."
    ),
    images: Path | None = typer.Option(None, help="Folder the annotation's image paths are relative to."),
    group_regex: str | None = typer.Option(
        None, help="Regex on the image's source path; its first capture group is the image's group."
    ),
    link: bool = typer.Option(False, "--link", help="Symlink images instead of copying them."),
) -> None:
    """Import YOLO / COCO / Pascal VOC / CVAT / Label Studio data as one ultralytics dataset."""
    from datasets.dataset_import import import_dataset

    summary = import_dataset(
        src,
        fmt.value,
        out,
        mapping=mapping,
        taxonomy=taxonomy,
        drop_unmapped=drop_unmapped,
        skip_missing=skip_missing,
        images_dir=images,
        group_regex=group_regex,
        link=link,
    )
    typer.echo(summary.text())
    typer.echo(f"next: streetwatch dataset check {out}")


def check_command(
    root: Path = typer.Argument(..., help="Dataset folder (images/ + labels/)."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the report as JSON here."),
    taxonomy: Path | None = TAXONOMY_OPTION,
    workers: int = typer.Option(2, min=1, help="Threads decoding images."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the summary."),
) -> None:
    """Report corrupt images, bad boxes, unknown classes, duplicates, missing labels. Fixes nothing;
    exits 1 when errors were found."""
    from datasets.check import check_dataset, write_json

    report = check_dataset(root, taxonomy, workers=workers)
    if not quiet:
        for issue in report.issues:
            typer.echo(str(issue))
    typer.echo(report.summary_text())
    if json_path:
        write_json(report, json_path)
    if report.errors:
        raise typer.Exit(1)


def split_command(
    root: Path = typer.Argument(..., help="Dataset folder (as `dataset import` writes it)."),
    out: Path = typer.Option(..., "--out", "-o", help="Where train/val/test lists and data.yaml go."),
    val: float = typer.Option(0.15, help="Fraction for validation."),
    test: float = typer.Option(0.15, help="Fraction for test (0: no test split)."),
    seed: int = typer.Option(0, help="Seed for the order of equally sized groups."),
    group_by: str | None = typer.Option(
        None,
        help="groups.csv (image,group) or a regex on the image path (first capture group); "
        "default: DIR/groups.csv.",
    ),
    taxonomy: Path | None = TAXONOMY_OPTION,
    absolute: bool = typer.Option(
        False, "--absolute", help="Write absolute image paths even when relative ones would do."
    ),
) -> None:
    """Split by group (video/route/day never on both sides) with per-class balance; writes data.yaml."""
    from datasets.split import split_dataset

    result = split_dataset(
        root, out, val=val, test=test, seed=seed, group_by=group_by, taxonomy_path=taxonomy, absolute=absolute
    )
    typer.echo(result.table())
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(
        f"wrote {result.out / 'data.yaml'} ({'relative' if result.relative_paths else 'absolute'} paths)"
    )


def stats_command(
    root: Path = typer.Argument(..., help="Dataset folder (images/ + labels/)."),
    taxonomy: Path | None = TAXONOMY_OPTION,
) -> None:
    """Per-class box and image counts and a box-size histogram."""
    from datasets.stats import dataset_stats

    typer.echo(dataset_stats(root, taxonomy).text())


def register(app: typer.Typer, bench: typer.Typer, dataset: typer.Typer) -> None:
    """Add the dataset tooling to the `dataset` group and the generator's `synth` command to the app."""
    dataset.command("import")(import_command)
    dataset.command("check")(check_command)
    dataset.command("split")(split_command)
    dataset.command("stats")(stats_command)
    synth_cli.register(app, bench, dataset)
