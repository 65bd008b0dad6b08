"""Teachers: shapes of every registered teacher, stage outputs chain to the logits, bring-your-own wrap."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from autogtkd.exceptions import ConfigError, UnknownNameError
from autogtkd.hw.costs import count_params
from autogtkd.nn import StagedNet
from autogtkd.teachers import StagedTeacher, create_teacher, list_teachers

REQUIRED = {"resnet8", "resnet20", "resnet32", "resnet56", "resnet8x4", "resnet32x4", "wrn-16-2", "wrn-40-2"}


def test_required_teachers_registered() -> None:
    assert REQUIRED <= set(list_teachers())
    with pytest.raises(UnknownNameError, match="valid: .*resnet20"):
        create_teacher("resnet21", num_classes=10)


@pytest.mark.parametrize("name", list_teachers())
def test_teacher_shapes_and_chaining(name: str) -> None:
    torch.manual_seed(0)
    t = create_teacher(name, num_classes=7).eval()
    assert isinstance(t, StagedNet) and len(t.stages) == 3
    assert t.stage_strides == [1, 2, 4]
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        feats = t.forward_stages(x)
        logits = t(x)
        assert logits.shape == (1, 7)
        for k, (f, c, s) in enumerate(zip(feats, t.stage_channels, t.stage_strides)):
            assert f.shape == (1, c, 32 // s, 32 // s), (k, f.shape)
            assert torch.allclose(t.forward_from(k + 1, f), logits, atol=1e-5)
        assert torch.allclose(t.forward_from(0, t.stem(x)), logits, atol=1e-5)
    # probing agrees with the declared shapes
    probed = StagedTeacher(t.stem, list(t.stages), t.head)
    assert probed.stage_channels == t.stage_channels and probed.stage_strides == t.stage_strides


# Parameter counts of RepDistiller's CIFAR-100 models (public: resnet32x4 7.43M, resnet8x4 1.23M,
# wrn_40_2 2.26M, wrn_16_2 0.70M, resnet56 0.86M, resnet20 0.28M, resnet8 0.08M).
@pytest.mark.parametrize(
    ("name", "mparams"),
    [
        ("resnet32x4", 7.43),
        ("resnet8x4", 1.23),
        ("wrn-40-2", 2.26),
        ("wrn-16-2", 0.70),
        ("resnet56", 0.86),
        ("resnet20", 0.28),
        ("resnet8", 0.08),
    ],
)
def test_parameter_counts_match_repdistiller(name: str, mparams: float) -> None:
    assert count_params(create_teacher(name, num_classes=100)) / 1e6 == pytest.approx(mparams, abs=0.006)


def test_other_input_sizes_and_channels() -> None:
    t = create_teacher("resnet8", num_classes=5, in_channels=1)
    assert t(torch.randn(1, 1, 64, 64)).shape == (1, 5)
    assert [f.shape[-1] for f in t.forward_stages(torch.randn(1, 1, 64, 64))] == [64, 32, 16]


class _TorchvisionStyle(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 2, 1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1), nn.ReLU())
        self.layer2 = nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
        self.layer3 = nn.Sequential(nn.Conv2d(16, 24, 3, 2, 1), nn.ReLU())
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(24, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x))))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def test_wrap_existing_network() -> None:
    torch.manual_seed(0)
    net = _TorchvisionStyle().eval()
    t = StagedTeacher.wrap(net, stages=["layer1", "layer2", "layer3"], input_shape=(3, 32, 32))
    assert t.stage_channels == [8, 16, 24] and t.stage_strides == [2, 4, 8]
    assert not t.training and not net.training
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(t(x), net(x), atol=1e-6)
        f = t.forward_stages(x)
        assert torch.allclose(t.forward_from(2, f[1]), net(x), atol=1e-6)
    assert t.stages[0] is net.layer1  # shares parameters


def test_wrap_rejects_a_wrong_split() -> None:
    class Odd(_TorchvisionStyle):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x) * 2  # something the children alone do not do

    with pytest.raises(ConfigError, match="does not reproduce its output"):
        StagedTeacher.wrap(Odd(), stages=["layer1", "layer2", "layer3"])
    with pytest.raises(ConfigError, match="not direct children"):
        StagedTeacher.wrap(_TorchvisionStyle(), stages=["layer1.0"])
    with pytest.raises(ConfigError):
        StagedTeacher.wrap(_TorchvisionStyle(), stages=["nope"])
    # explicit parts for a nested stage
    net = _TorchvisionStyle().eval()
    t = StagedTeacher.wrap(
        net,
        stages=["layer1", "layer2", "layer3"],
        stem=nn.Sequential(net.conv1, net.bn1, net.relu),
        head=nn.Sequential(net.avgpool, nn.Flatten(1), net.fc),
    )
    assert t.stage_channels == [8, 16, 24]
