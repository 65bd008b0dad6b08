"""The tiny trained GTN run the command-line tests search, distil, evaluate and spoil copies of:
trained once per session (:func:`_helpers.train_tiny_run`). Tests must not modify it (copy it first)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _helpers import train_tiny_run


@pytest.fixture(scope="session")
def tiny_gtn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("tiny-gtn-run") / "gtn")
