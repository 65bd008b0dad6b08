"""Weight-sharing supernets: ``set_active`` / ``activated(arch)`` / ``export(arch)``."""

from autogtkd.supernet._base import DynamicStage, Supernet

__all__ = ["DynamicStage", "Supernet"]
