""":class:`StagedTeacher`: a teacher split into ``stem -> stages -> head`` with known stage shapes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from autogtkd.exceptions import ConfigError
from autogtkd.nn import StagedNet

__all__ = ["StagedTeacher"]


class StagedTeacher(StagedNet):
    """A teacher network as ``stem -> stages[0..K-1] -> head`` whose stage outputs are exposed.

    Attributes:
        stage_channels: output channels of each stage, length K.
        stage_strides: total downsampling (input side / feature side) at each stage's output, e.g.
            ``[1, 2, 4]`` for CIFAR ResNets at 32x32.
        input_shape: ``(C, H, W)`` used to probe the shapes.

    ``forward(x)`` gives logits ``(N, num_classes)``; ``forward_stages(x)`` the K stage outputs
    ``(N, stage_channels[k], H / stage_strides[k], W / stage_strides[k])``; ``forward_from(i, h)`` runs
    stages ``i..K-1`` and the head on ``h`` (the input of stage ``i``, i.e. the output of stage ``i-1``
    or of the stem).

    Bring your own teacher, either from its three parts::

        teacher = StagedTeacher(stem, [layer1, layer2, layer3], head, input_shape=(3, 32, 32))

    or by naming the stage sub-modules of an existing network (stem = the children before the first
    stage, head = the children after the last one, with a ``Flatten`` inserted before the first
    ``Linear``; the split is checked against ``module(x)`` on a dummy batch)::

        class Net(nn.Module):                 # a torchvision-style ResNet
            def __init__(self):
                super().__init__()
                self.conv1, self.bn1, self.relu = nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU()
                self.layer1 = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
                self.layer2 = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU())
                self.avgpool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(32, 10)
            def forward(self, x):
                x = self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x)))))
                return self.fc(torch.flatten(self.avgpool(x), 1))

        teacher = StagedTeacher.wrap(Net(), stages=["layer1", "layer2"], input_shape=(3, 32, 32))
        teacher.stage_channels, teacher.stage_strides      # [16, 32], [1, 2]
    """

    def __init__(
        self,
        stem: nn.Module,
        stages: Sequence[nn.Module],
        head: nn.Module,
        *,
        input_shape: tuple[int, int, int] = (3, 32, 32),
        stage_channels: Sequence[int] | None = None,
        stage_strides: Sequence[int] | None = None,
    ) -> None:
        super().__init__(stem, list(stages), head)
        self.input_shape = tuple(input_shape)
        if stage_channels is None or stage_strides is None:
            channels, strides = self._probe()
            stage_channels = channels if stage_channels is None else stage_channels
            stage_strides = strides if stage_strides is None else stage_strides
        if len(stage_channels) != len(self.stages) or len(stage_strides) != len(self.stages):
            raise ConfigError(f"need one stage channel count and stride per stage ({len(self.stages)} stages)")
        self.stage_channels: list[int] = [int(c) for c in stage_channels]
        self.stage_strides: list[int] = [int(s) for s in stage_strides]

    @torch.no_grad()
    def _probe(self) -> tuple[list[int], list[int]]:
        """Stage channels and strides from one forward pass on zeros ``(2, *input_shape)`` in eval mode."""
        was_training = self.training
        self.eval()
        try:
            feats = self.forward_stages(torch.zeros(2, *self.input_shape))
        finally:
            self.train(was_training)
        side = self.input_shape[-1]
        channels, strides = [], []
        for k, f in enumerate(feats):
            if f.dim() != 4:
                raise ConfigError(f"stage {k} outputs shape {tuple(f.shape)}; stages must output (N, C, H, W)")
            channels.append(int(f.shape[1]))
            strides.append(max(1, round(side / int(f.shape[-1]))))
        return channels, strides

    @classmethod
    def wrap(
        cls,
        module: nn.Module,
        stages: Sequence[str],
        *,
        stem: nn.Module | None = None,
        head: nn.Module | None = None,
        input_shape: tuple[int, int, int] = (3, 32, 32),
        check: bool = True,
        atol: float = 1e-5,
    ) -> StagedTeacher:
        """Split an existing network at the sub-modules named in ``stages`` (dotted paths allowed).

        ``stem`` and ``head`` default to the direct children of ``module`` before the first / after the
        last stage, in registration order (a ``Flatten`` is inserted before the first ``Linear`` of
        the head when the head has no ``Flatten``). This follows the order in which ``forward`` uses
        its children in most CNNs; with ``check=True`` the staged network is compared with
        ``module(x)`` on random input in eval mode, and a mismatch raises :class:`ConfigError`
        asking for explicit ``stem``/``head``. The wrapped teacher shares parameters with ``module``.
        """
        if not stages:
            raise ConfigError("StagedTeacher.wrap needs at least one stage name")
        try:
            stage_modules = [module.get_submodule(name) for name in stages]
        except AttributeError as exc:
            raise ConfigError(f"StagedTeacher.wrap: {exc}") from None
        if stem is None or head is None:
            children = list(module.named_children())
            names = [n for n, _ in children]
            missing = [s for s in stages if s not in names]
            if missing:
                raise ConfigError(
                    f"stages {missing} are not direct children of {type(module).__name__} "
                    f"(children: {names}); pass stem= and head= explicitly"
                )
            first, last = names.index(stages[0]), names.index(stages[-1])
            if stem is None:
                stem = nn.Sequential(*[m for _, m in children[:first]])
            if head is None:
                tail = [m for _, m in children[last + 1 :]]
                if not any(isinstance(m, nn.Flatten) for m in tail):
                    at = next((i for i, m in enumerate(tail) if isinstance(m, nn.Linear)), len(tail))
                    tail.insert(at, nn.Flatten(1))
                head = nn.Sequential(*tail)
        was_training = module.training
        teacher = cls(stem, stage_modules, head, input_shape=input_shape)
        teacher.train(was_training)
        if check:
            module.eval()
            try:
                with torch.no_grad():
                    x = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0))
                    expected, got = module(x), teacher(x)
            finally:
                module.train(was_training)
            if expected.shape != got.shape or not torch.allclose(expected, got, atol=atol, rtol=1e-4):
                raise ConfigError(
                    f"the stem/stages/head split of {type(module).__name__} does not reproduce its output "
                    f"(shapes {tuple(expected.shape)} vs {tuple(got.shape)}); pass stem= and head= explicitly"
                )
        return teacher
