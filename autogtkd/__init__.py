"""autogtkd: hardware-aware neural architecture search with a generic, KD-aware teacher.

The public API is re-exported here; heavy submodules (training, search, latency) are imported lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

from autogtkd.budget import Budget, parse_budget
from autogtkd.exceptions import AutoGTKDError
from autogtkd.space import Arch, Choice, ChoiceSpace, SearchSpace, create_space, list_spaces, load_space, register_space

__version__ = "0.1.0"

# Heavy parts, imported on first use: name -> module.
_LAZY: dict[str, str] = {
    "SearchProblem": "autogtkd.search",
    "SearchResult": "autogtkd.search",
    "load_result": "autogtkd.search",
    "TrainConfig": "autogtkd.train",
    "load_run": "autogtkd.train",
    "default_run": "autogtkd.train",
    "distill": "autogtkd.train",
    "load_predictor": "autogtkd.hw.latency",
}

__all__ = [
    "Arch",
    "AutoGTKDError",
    "Budget",
    "Choice",
    "ChoiceSpace",
    "SearchProblem",
    "SearchResult",
    "SearchSpace",
    "TrainConfig",
    "__version__",
    "create_space",
    "default_run",
    "distill",
    "list_spaces",
    "load_predictor",
    "load_result",
    "load_run",
    "load_space",
    "parse_budget",
    "register_space",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'autogtkd' has no attribute {name!r}")
