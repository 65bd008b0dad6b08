"""Search spaces: :class:`Arch`, :class:`Choice`, :class:`SearchSpace`, built-in spaces and the registry.

Example:
    >>> import numpy as np
    >>> from autogtkd.space import create_space
    >>> space = create_space("mbv3-cifar")
    >>> arch = space.sample(np.random.default_rng(0))
    >>> space.flops(arch) > 0
    True
"""

from autogtkd.space._arch import Arch, Scalar
from autogtkd.space._base import Choice, SearchSpace
from autogtkd.space._generic import ChoiceSpace
from autogtkd.space._hash import space_hash, space_hash_matches
from autogtkd.space._layers import LayerCost
from autogtkd.space._load import SPACES, create_space, list_spaces, load_space, register_space, space_from_dict
from autogtkd.space._mbv3 import MBStageConfig, MobileNetV3Config, MobileNetV3Space
from autogtkd.space._resnet import ResNetConfig, ResNetSpace, ResStageConfig

__all__ = [
    "SPACES",
    "Arch",
    "Choice",
    "ChoiceSpace",
    "LayerCost",
    "MBStageConfig",
    "MobileNetV3Config",
    "MobileNetV3Space",
    "ResNetConfig",
    "ResNetSpace",
    "ResStageConfig",
    "Scalar",
    "SearchSpace",
    "create_space",
    "list_spaces",
    "load_space",
    "register_space",
    "space_from_dict",
    "space_hash",
    "space_hash_matches",
]
