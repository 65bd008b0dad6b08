"""Training methods: which modules a method trains and its phases. An extension point: a method is a
:class:`TrainingMethod` registered by name (:func:`register_method`), so adding one touches one file;
``TrainConfig.method`` and ``autogtkd train --method`` accept every registered name.

The built-ins (:data:`METHODS`, docs/training.md): ``gtn`` (generic teacher + supernet), ``vanilla``
(teacher, CE only), ``inplace`` (supernet alone, in-place distillation from its largest subnet),
``supernet-kd`` (a vanilla teacher phase, then the supernet distilled from the frozen teacher) and
``sftn`` (the GTN step with one fixed student path).

Example (a teacher trained with label smoothing, as a method of its own):
    >>> import torch.nn.functional as F
    >>> from autogtkd.train import Phase, TrainingMethod, register_method
    >>> class Smoothed(TrainingMethod):
    ...     uses_supernet = False
    ...     def phases(self, ctx):
    ...         def step(x, y):
    ...             loss = F.cross_entropy(ctx.teacher(x).float(), y, label_smoothing=0.1)
    ...             return loss, {"loss": float(loss)}
    ...         return [Phase("teacher", ctx.cfg.epochs, [ctx.teacher], [], step, ctx.eval_teacher)]
    >>> register_method("smoothed", Smoothed)         # doctest: +SKIP
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import torch
from torch import nn

from autogtkd.exceptions import ConfigError
from autogtkd.gtn import ArchDistribution, GTNConfig, StudentBranches, create_arch_loss, grow_init, teacher_geometry
from autogtkd.nn import StagedNet, recalibrate_bn, to_device, top1
from autogtkd.registry import Registry
from autogtkd.space import SearchSpace
from autogtkd.supernet import Supernet
from autogtkd.train._loops import Phase, TrainState
from autogtkd.train._steps import gtn_step, inplace_step, supernet_kd_step, teacher_step

if TYPE_CHECKING:  # annotations only: TrainConfig validates its method against this registry
    from autogtkd.train._config import TrainConfig

__all__ = [
    "METHODS",
    "TRAINING_METHODS",
    "Method",
    "MethodContext",
    "TrainingMethod",
    "build_models",
    "build_phases",
    "create_method",
    "list_methods",
    "register_method",
]

Method = Literal["gtn", "vanilla", "inplace", "supernet-kd", "sftn"]  # the built-in methods (typing)
METHODS: tuple[str, ...] = get_args(Method)


@dataclass
class MethodContext:
    """What a method builds its phases from: the modules (:func:`build_models`), the config, the
    run's state (its ``rng`` drives architecture sampling), the device, and a function returning the
    calibration batches that recalibrate a subnet's BatchNorm before its per-epoch evaluation."""

    models: dict[str, nn.Module]
    cfg: TrainConfig
    state: TrainState
    device: torch.device
    calib_loader_fn: Callable[[], Any]

    @property
    def teacher(self) -> nn.Module:
        return self.models["teacher"]

    @property
    def supernet(self) -> Supernet:
        return self.models["supernet"]  # type: ignore[return-value]

    def eval_teacher(self, loader: Any) -> dict[str, float]:
        """``val_top1_teacher`` on ``loader`` (``cfg.eval_batches`` batches)."""
        return {"val_top1_teacher": top1(self.teacher, loader, self.device, self.cfg.eval_batches)}

    def eval_supernet(self, loader: Any) -> dict[str, float]:
        """``val_top1_largest`` and ``val_top1_smallest``: the subnets scored as the search scores
        them -- exported (weights copied, the supernet is not touched), BatchNorm statistics
        recalibrated on ``calib_batches`` calibration batches, then top-1. The supernet's own running
        statistics mix every sampled path and are meaningless for any single subnet (measured: ~10 %
        without recalibration, docs/training.md)."""
        space, out = self.supernet.space, {}
        for tag, a in (("largest", space.largest()), ("smallest", space.smallest())):
            sub = to_device(self.supernet.export(a), self.device, channels_last=self.cfg.channels_last)
            recalibrate_bn(sub, self.calib_loader_fn(), num_batches=self.cfg.calib_batches, device=self.device)
            out[f"val_top1_{tag}"] = top1(sub, loader, self.device, self.cfg.eval_batches)
        return out

    def teacher_phase(self, epochs: int) -> Phase:
        """The vanilla teacher phase: ``CE(z_T, y)`` for ``epochs`` epochs."""
        return Phase("teacher", epochs, [self.teacher], [], teacher_step(self.teacher), self.eval_teacher)


class TrainingMethod(ABC):
    """One training method (subclass it and :func:`register_method` the class).

    Attributes:
        uses_teacher: the method trains or distils from the run's teacher (False: :func:`train`
            ignores the teacher argument and the run records none).
        uses_supernet: the method trains the search space's supernet (the space must have one).
    """

    uses_teacher: bool = True
    uses_supernet: bool = True

    def check(self, cfg: TrainConfig) -> None:
        """Raise :class:`~autogtkd.exceptions.ConfigError` for options the method cannot run with
        (called when a :class:`TrainConfig` is created)."""

    def extra_models(
        self, models: Mapping[str, nn.Module], space: SearchSpace, cfg: TrainConfig
    ) -> dict[str, nn.Module]:
        """Modules beyond ``teacher`` and ``supernet`` (checkpointed by name), built right after them
        from the same seeded torch generator."""
        return {}

    @abstractmethod
    def phases(self, ctx: MethodContext) -> list[Phase]:
        """The phases that train ``ctx.models``, in order."""


TRAINING_METHODS: Registry[TrainingMethod] = Registry("training method")


def register_method(name: str, factory: Callable[[], TrainingMethod], *, overwrite: bool = False) -> None:
    """Register a training method (a :class:`TrainingMethod` subclass or a factory of one)."""
    TRAINING_METHODS.register(name, factory, overwrite=overwrite)


def list_methods() -> list[str]:
    """Names of the registered training methods."""
    return TRAINING_METHODS.list()


def create_method(name: str) -> TrainingMethod:
    """The training method registered as ``name``; an unknown name raises :class:`ConfigError`
    listing the registered ones."""
    if name not in TRAINING_METHODS:
        raise ConfigError(f"method must be one of {list_methods()}, got {name!r}")
    return TRAINING_METHODS.create(name)


def build_models(
    space: SearchSpace, teacher: nn.Module | None, cfg: TrainConfig, *, num_classes: int
) -> dict[str, nn.Module]:
    """The modules ``cfg.method`` trains: ``teacher`` and ``supernet`` as the method uses them, then
    its extra modules (GTN: ``branches``, ``arch_dist``), initialised from ``cfg.seed``. With
    ``cfg.supernet_init == "grow"`` the supernet starts function-preserving from its smallest subnet
    (:func:`autogtkd.gtn.grow_init`)."""
    method = create_method(cfg.method)
    torch.manual_seed(cfg.seed)
    models: dict[str, nn.Module] = {}
    if method.uses_teacher:
        if teacher is None:
            raise ConfigError(f"method {cfg.method!r} needs a teacher")
        models["teacher"] = teacher
    if method.uses_supernet:
        if not space.has_supernet:
            raise ConfigError(f"method {cfg.method!r} needs a search space with a supernet; {space.name!r} has none")
        models["supernet"] = space.build_supernet(num_classes=num_classes)
    models.update(method.extra_models(models, space, cfg))
    if "supernet" in models and cfg.supernet_init == "grow":
        _grow_from_smallest(models["supernet"])  # type: ignore[arg-type]
    return models


def build_phases(
    models: dict[str, nn.Module],
    cfg: TrainConfig,
    state: TrainState,
    device: torch.device,
    calib_loader_fn: Callable[[], Any],
) -> list[Phase]:
    """The phases of ``cfg.method`` over ``models`` (see :class:`MethodContext`)."""
    return create_method(cfg.method).phases(MethodContext(models, cfg, state, device, calib_loader_fn))


def _grow_from_smallest(supernet: Supernet) -> None:
    """Function-preserving initialisation (:func:`autogtkd.gtn.grow_init`): every option beyond
    the smallest subnet starts as a no-op."""
    space = supernet.space
    x = torch.zeros(2, space.in_channels, space.input_size, space.input_size)  # (2, C, H, W): shapes only

    def reference() -> None:
        with supernet.activated(space.smallest()):
            supernet(x)

    grow_init([supernet], reference)


# ---------------------------------------------------------------------------------------------- built-ins
@TRAINING_METHODS.register("vanilla")
class Vanilla(TrainingMethod):
    """The teacher alone, ``CE(z_T, y)``."""

    uses_supernet = False

    def phases(self, ctx: MethodContext) -> list[Phase]:
        return [ctx.teacher_phase(ctx.cfg.epochs)]


@TRAINING_METHODS.register("inplace")
class InPlace(TrainingMethod):
    """The supernet alone, sandwich rule with in-place distillation from its largest subnet (BigNAS/OFA)."""

    uses_teacher = False

    def phases(self, ctx: MethodContext) -> list[Phase]:
        cfg = ctx.cfg
        step = inplace_step(ctx.supernet, cfg.inplace_paths, cfg.kd_temperature, ctx.state.rng)
        return [Phase("supernet", cfg.epochs, [ctx.supernet], [], step, ctx.eval_supernet)]


@TRAINING_METHODS.register("supernet-kd")
class SupernetKD(TrainingMethod):
    """A vanilla teacher phase (``teacher_epochs``; none when ``teacher_init`` gives a trained
    teacher), then the supernet distilled from the frozen teacher."""

    def check(self, cfg: TrainConfig) -> None:
        if not cfg.kd_sandwich and cfg.inplace_paths < 1:
            raise ConfigError("supernet-kd without the sandwich rule needs inplace_paths >= 1")

    def phases(self, ctx: MethodContext) -> list[Phase]:
        cfg = ctx.cfg
        t_epochs = cfg.teacher_epochs if cfg.teacher_epochs is not None else (0 if cfg.teacher_init else cfg.epochs)
        step = supernet_kd_step(
            ctx.supernet, ctx.teacher, cfg.inplace_paths, cfg.kd_temperature, ctx.state.rng, sandwich=cfg.kd_sandwich
        )
        teacher = [ctx.teacher_phase(t_epochs)] if t_epochs > 0 else []
        return teacher + [Phase("supernet", cfg.epochs, [ctx.supernet], [ctx.teacher], step, ctx.eval_supernet)]


@TRAINING_METHODS.register("gtn")
class GTN(TrainingMethod):
    """Generic teacher + supernet: teacher, supernet, student branches and ``p_φ`` trained jointly by
    the GTN step (:func:`~autogtkd.train._steps.gtn_step`)."""

    def gtn_config(self, cfg: TrainConfig) -> GTNConfig:
        """The GTN options the step runs with."""
        return cfg.gtn

    def pool(self, cfg: TrainConfig) -> Sequence[Mapping[str, Any]] | None:
        """The support of ``p_φ`` (None: the whole space)."""
        return cfg.gtn.pool

    def extra_models(
        self, models: Mapping[str, nn.Module], space: SearchSpace, cfg: TrainConfig
    ) -> dict[str, nn.Module]:
        teacher: StagedNet = models["teacher"]  # type: ignore[assignment]
        supernet: Supernet = models["supernet"]  # type: ignore[assignment]
        channels, strides = teacher_geometry(teacher)
        branches = StudentBranches(channels, strides, supernet, include_head_only=cfg.gtn.include_head_only)
        return {"branches": branches, "arch_dist": ArchDistribution(space, self.pool(cfg))}

    def phases(self, ctx: MethodContext) -> list[Phase]:
        cfg, state = ctx.cfg, ctx.state
        branches: StudentBranches = ctx.models["branches"]  # type: ignore[assignment]
        dist: ArchDistribution = ctx.models["arch_dist"]  # type: ignore[assignment]
        gcfg = self.gtn_config(cfg)
        mode = create_arch_loss(gcfg.arch_loss)
        if state.arch.target is None:  # built once (a resumed run restores it from the checkpoint)
            state.arch.target = mode.target(dist, gcfg, np.random.default_rng(cfg.seed + 7919))  # own stream
        arch_params = list(dist.parameters()) if mode.learns else []
        for p in dist.parameters():
            p.requires_grad_(bool(arch_params))

        def evaluate(loader: Any) -> dict[str, float]:
            return {**ctx.eval_teacher(loader), **ctx.eval_supernet(loader)}

        step = gtn_step(ctx.teacher, ctx.supernet, branches, dist, gcfg, state.rng, state.arch)  # type: ignore[arg-type]
        modules = [ctx.teacher, ctx.supernet, branches]
        return [Phase("gtn", cfg.epochs, modules, [], step, evaluate, arch_params, gcfg.arch_lr)]


@TRAINING_METHODS.register("sftn")
class SFTN(GTN):
    """One student-friendly teacher for the single architecture ``sftn_arch``: the GTN step with that
    one path (nothing to learn about the distribution)."""

    def check(self, cfg: TrainConfig) -> None:
        if cfg.sftn_arch is None:
            raise ConfigError("method 'sftn' needs sftn_arch (the student architecture)")

    def gtn_config(self, cfg: TrainConfig) -> GTNConfig:
        return replace(cfg.gtn, paths=1, sandwich=False, arch_loss="uniform", max_path_mflops=None)

    def pool(self, cfg: TrainConfig) -> Sequence[Mapping[str, Any]] | None:
        assert cfg.sftn_arch is not None
        return [cfg.sftn_arch]
