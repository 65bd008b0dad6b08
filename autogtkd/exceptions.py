"""Every user-facing error of autogtkd is an :class:`AutoGTKDError`.

The CLI turns one into a single line on stderr and an exit code:

* :class:`InvalidInputError` (exit code 2): the user's input is wrong -- arguments, budgets, names,
  configs, search-space files, checkpoints, predictor files, dataset folders.
* :class:`RunError` (exit code 1): the input was valid but the run failed (divergence, I/O).
"""

from __future__ import annotations

__all__ = [
    "ArchError",
    "AutoGTKDError",
    "BudgetError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DivergenceError",
    "InvalidInputError",
    "PredictorError",
    "RunError",
    "SpaceError",
    "UnknownNameError",
]


class AutoGTKDError(Exception):
    """Base class of all errors autogtkd reports to users."""

    exit_code: int = 1


class InvalidInputError(AutoGTKDError, ValueError):
    """The user's input is invalid (exit code 2)."""

    exit_code = 2


class RunError(AutoGTKDError, RuntimeError):
    """A run with valid input failed (exit code 1)."""

    exit_code = 1


class BudgetError(InvalidInputError):
    """A budget string cannot be parsed or cannot be met."""


class UnknownNameError(InvalidInputError, KeyError):
    """A name is not in a registry; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(InvalidInputError):
    """A config or YAML document has unknown keys or wrong types."""


class SpaceError(InvalidInputError):
    """A search space definition or file is invalid."""


class ArchError(InvalidInputError):
    """An architecture does not belong to its search space."""


class CheckpointError(InvalidInputError):
    """A checkpoint is missing, corrupt, unsafe or from another space."""


class PredictorError(InvalidInputError):
    """A predictor file is missing, tampered with, or for another space or target."""


class DataError(InvalidInputError):
    """A dataset folder is missing, empty or in the wrong format."""


class DivergenceError(RunError):
    """Training produced a NaN or infinite loss."""
