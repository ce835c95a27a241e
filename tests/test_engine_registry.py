"""The Ray engine is an optional extra (`streetwatch[scale]`): without Ray, asking for it is a clear error."""

from __future__ import annotations

import sys

import pytest

from detector.errors import InputError
from serve.engines.registry import open_engine


def test_the_ray_engine_without_ray_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delitem(sys.modules, "serve.engines.ray_engine", raising=False)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    with pytest.raises(InputError, match=r"pip install 'streetwatch\[scale\]'"):
        open_engine("ray")


def test_an_unknown_engine_is_refused():
    with pytest.raises(InputError, match="inprocess or ray"):
        open_engine("spark")
