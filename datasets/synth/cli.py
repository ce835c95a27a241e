"""`streetwatch synth`: render synthetic patrol frames (`--images N`) or drive-by clips (`--clip SECONDS`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer


def register(app: typer.Typer, bench: typer.Typer, dataset: typer.Typer) -> None:
    """Add `synth` to the root app and `bench synth` to the bench group."""

    @app.command("synth")
    def synth(
        out: Path = typer.Option(..., "--out", help="Output folder (created)."),
        images: int = typer.Option(0, "--images", min=0, help="Number of still training frames to render."),
        seed: int = typer.Option(0, "--seed", min=0, help="Seed: same seed, same output."),
        workers: int = typer.Option(
            1, "--workers", min=1, max=64, help="Worker processes (output does not change)."
        ),
        start: int = typer.Option(
            0, "--start", min=0, help="Index of the first frame (to extend a dataset)."
        ),
        contact_sheet: Path | None = typer.Option(
            None, "--contact-sheet", help="Also copy the contact sheet here."
        ),
        clip: float = typer.Option(
            0.0, "--clip", min=0.0, help="Render drive-by clips of this many seconds."
        ),
        passes: int = typer.Option(
            2, "--passes", min=1, max=20, help="Clip mode: passes along the same street."
        ),
        speed_kmh: float = typer.Option(
            20.0, "--speed-kmh", min=5.0, max=60.0, help="Clip mode: vehicle speed."
        ),
        fps: float = typer.Option(10.0, "--fps", min=1.0, max=30.0, help="Clip mode: frames per second."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    ) -> None:
        """Render synthetic patrol frames with exact YOLO labels, or drive-by clips with GPS and ground truth.

        The frames are procedural (numpy/OpenCV), not real footage: see docs/synth.md for what they can and
        cannot stand in for.
        """
        from detector.errors import InputError

        if images <= 0 and clip <= 0:
            raise InputError("synth: give --images N (training frames) or --clip SECONDS (drive-by clips)")
        if images > 0 and clip > 0:
            raise InputError(
                "synth: --images and --clip are separate modes; run them into different --out folders"
            )
        if out.exists() and not out.is_dir():
            raise InputError(f"synth: --out {out} exists and is not a folder")
        if images > 0:
            from datasets.synth.frames import generate_images

            t0 = time.time()
            summary = generate_images(out, images, seed, workers=workers, start=start, progress=not quiet)
            summary["seconds"] = round(time.time() - t0, 1)
            if contact_sheet:
                import shutil

                shutil.copyfile(out / "contact_sheet.png", contact_sheet)
            typer.echo(json.dumps(summary))
            return
        from datasets.synth.clips import generate_clips

        summary = generate_clips(
            out,
            seconds=clip,
            seed=seed,
            passes=passes,
            speed_kmh=speed_kmh,
            fps=fps,
            workers=workers,
            progress=not quiet,
        )
        typer.echo(json.dumps(summary))

