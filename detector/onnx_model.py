"""`OnnxModel`: one ONNX Runtime session and what the model says about itself in its metadata.

Both models StreetWatch runs (the YOLO `Detector` and the `CropVerifier`) are ultralytics exports that
carry their class names, input size, version and provenance in the ONNX metadata. This class owns the
runtime for both: the session options, the error for a file that is not a loadable model, and the
parsing of that metadata.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detector.errors import ModelError


def parse_literal(value: str | None) -> Any:
    """A metadata value as ultralytics writes it (a Python literal), or the string itself."""
    if value is None:
        return None
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return value


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class OnnxModel:
    """An ONNX file opened on ONNX Runtime (CPU unless `providers` say otherwise).

    Args:
        path: the .onnx file.
        threads: intra-op threads (None: onnxruntime's default, all cores).
        inter_threads: inter-op threads (only used with a parallel execution mode).
        spin: whether idle threads busy-wait for work (None: onnxruntime's default, yes).
        providers: execution providers.
        kind: what the file should be, for error messages ("model", "verifier model").
    """

    def __init__(
        self,
        path: str | Path,
        threads: int | None = None,
        inter_threads: int | None = None,
        spin: bool | None = None,
        providers: Sequence[str] | None = None,
        kind: str = "model",
    ) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.exists():
            raise ModelError(f"{kind} file not found", self.path)
        if not self.path.is_file():
            raise ModelError(f"{kind} path is not a file", self.path)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            options.intra_op_num_threads = int(threads)
        if inter_threads is not None:
            options.inter_op_num_threads = int(inter_threads)
        if spin is not None:
            options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
            options.add_session_config_entry("session.inter_op.allow_spinning", "1" if spin else "0")
        options.log_severity_level = 3  # errors only
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=list(providers or ["CPUExecutionProvider"])
            )
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"not a loadable ONNX model ({first[:160]})", self.path) from exc
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self._sha256: str | None = None

    def names(self, what: str = "YOLO detector") -> list[str]:
        """Class names, index = class id: "{0: 'person', 1: 'bicycle'}" (a dict literal) or a list."""
        value = self.metadata.get("names")
        if not value:
            raise ModelError(f"not a {what}: no class names in the ONNX metadata ('names')", self.path)
        parsed = parse_literal(value)
        if isinstance(parsed, dict) and parsed:
            try:
                ids = sorted(int(k) for k in parsed)
            except (TypeError, ValueError) as exc:
                bad = f"class names metadata has non-integer ids: {value[:80]!r}"
                raise ModelError(bad, self.path) from exc
            if ids != list(range(len(ids))):
                raise ModelError("class ids in the 'names' metadata are not 0..n-1", self.path)
            return [str(parsed[k] if k in parsed else parsed[str(k)]) for k in ids]
        if isinstance(parsed, list | tuple) and parsed:
            return [str(n) for n in parsed]
        raise ModelError(f"cannot read class names from the ONNX metadata: {value[:80]!r}", self.path)

    def literal(self, key: str) -> Any:
        """A metadata value parsed as a Python literal (None when absent)."""
        return parse_literal(self.metadata.get(key))

    @property
    def version(self) -> str:
        """The model version written at export (`model_version`), else its export date, else "?"."""
        return self.metadata.get("model_version") or self.metadata.get("date") or "?"

    @property
    def sha256(self) -> str:
        """The file's SHA-256 (computed once)."""
        if self._sha256 is None:
            self._sha256 = file_sha256(self.path)
        return self._sha256
