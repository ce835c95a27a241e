"""Errors a user can act on. The CLI prints them as one line (no traceback); the API maps them to 4xx."""

from __future__ import annotations

from pathlib import Path


class StreetWatchError(Exception):
    """A problem with the user's input or configuration, described in one line."""

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        self.problem = problem
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class InputError(StreetWatchError):
    """A file, folder, stream or payload that cannot be read as what it should be."""


class ModelError(StreetWatchError):
    """An ONNX file that is not a usable YOLO detector."""


class FixedInputSize(ModelError):
    """A model exported with a fixed input size was asked to run at another one."""


class ConfigError(StreetWatchError):
    """A configuration file or value that is invalid."""
