"""The resume/checkpoint/log skeleton every training entry point shares (:func:`~autogtkd.train.train`
and :func:`~autogtkd.train.distill`): :class:`ResumableRun`.

A run resumes from its checkpoint when one exists (weights, position, random states, optimiser and
scheduler states), writes one at epoch ends (atomically, rank 0 only) and appends one metrics record
per epoch, dropping records logged after the checkpoint it resumed from. Together with seeded data
order and restored sampling state, a killed run that is started again ends bit-identical to an
uninterrupted one (tests/faults/test_training_faults.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from autogtkd.nn import cpu_threads
from autogtkd.space import SearchSpace
from autogtkd.train._config import LoopConfig
from autogtkd.train._ddp import DistContext
from autogtkd.train._loops import LoopIO, Phase, TrainState, run_phases
from autogtkd.train.checkpoint import Checkpoint, load_checkpoint, restore_rng, save_checkpoint
from autogtkd.train.metrics import MetricsLog

__all__ = ["ResumableRun"]


class ResumableRun:
    """One resumable training run of ``models``.

    Args:
        checkpoint: the checkpoint file it resumes from and writes (None: neither).
        kind: the checkpoint's kind, checked on resume (``"train"``, ``"distill"``).
        space: the search space, recorded in the checkpoint and checked on resume.
        models: name -> module, saved and restored by name.
        cfg: the loop options (seed, threads, checkpoint interval, ...).
        ctx: ranks (rank 0 writes files).
        device: where the models are.
        metrics_dir: folder of ``metrics.jsonl``/``.csv`` (None: no metrics files).

    Attributes:
        state: where the run is (phase, epoch, step, sampling state); restored by :meth:`resume`.
        last_record: the last metrics record this process logged (empty before the first epoch).

    Example:
        >>> run = ResumableRun(out / "ckpt.pt", kind="distill", space=space, models={"student": m},
        ...                    cfg=cfg, ctx=DistContext(), device=torch.device("cpu"))   # doctest: +SKIP
        >>> run.resume()                                                                # doctest: +SKIP
        >>> run.run([phase], loader, val_loader)                                        # doctest: +SKIP
    """

    def __init__(
        self,
        checkpoint: str | Path | None,
        *,
        kind: str,
        space: SearchSpace,
        models: Mapping[str, nn.Module],
        cfg: LoopConfig,
        ctx: DistContext,
        device: torch.device,
        metrics_dir: str | Path | None = None,
    ) -> None:
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.kind, self.space, self.models = kind, space, dict(models)
        self.cfg, self.ctx, self.device = cfg, ctx, device
        self.metrics_dir = None if metrics_dir is None else Path(metrics_dir)
        self.state = TrainState(rng=np.random.default_rng(cfg.seed))
        self.last_record: dict[str, Any] = {}
        self._saved: dict[str, Any] | None = None  # optimiser/scheduler states of the phase to resume

    @property
    def has_checkpoint(self) -> bool:
        """Whether a checkpoint to resume from exists."""
        return self.checkpoint is not None and self.checkpoint.exists()

    def resume(self, validate: Callable[[Checkpoint], None] | None = None) -> Checkpoint | None:
        """Restore the run from its checkpoint, if there is one: ``validate(checkpoint)`` first (it
        raises for a checkpoint of another run), then the weights of every model, the position
        (phase from ``extra["phase"]``, 0 when absent; epoch and step), the random states and the
        optimiser/scheduler states. Returns the checkpoint (its ``extra`` holds what the caller
        saved), or None when starting afresh."""
        if not self.has_checkpoint:
            return None
        assert self.checkpoint is not None
        ckpt = load_checkpoint(self.checkpoint, expected_kind=self.kind, space=self.space, map_location=self.device)
        if validate is not None:
            validate(ckpt)
        for name, m in self.models.items():
            ckpt.load_model(name, m)
        st = self.state
        st.phase, st.epoch, st.step = int(ckpt.extra.get("phase", 0)), ckpt.epoch, ckpt.step
        restore_rng(ckpt, st.rng)
        self._saved = {"optimizers": ckpt.optimizers, "schedulers": ckpt.schedulers}
        return ckpt

    def run(
        self,
        phases: Sequence[Phase],
        loader: Any,
        val_loader: Any,
        *,
        extra: Callable[[TrainState], dict[str, Any]] | None = None,
        progress: bool = True,
        on_epoch_end: Callable[[TrainState], None] | None = None,
    ) -> TrainState:
        """Run ``phases`` to the end from :attr:`state` (:func:`~autogtkd.train._loops.run_phases`)
        with ``cfg.threads`` CPU threads, writing the checkpoint (its ``extra``: the position plus
        ``extra(state)``, JSON-like) and the metrics records; ``on_epoch_end`` is called after each
        epoch's checkpoint."""
        metrics = (
            MetricsLog(self.metrics_dir, resume_step=self.state.step)
            if self.metrics_dir is not None and self.ctx.is_main
            else None
        )

        def log(row: dict[str, Any]) -> None:
            self.last_record = row
            if metrics is not None:
                metrics.append(row)

        io = LoopIO(
            save=None if self.checkpoint is None else self._saver(extra),
            saved=self._saved,
            log=log,
            progress=progress,
            on_epoch_end=on_epoch_end,
        )
        try:
            with cpu_threads(self.cfg.threads):
                return run_phases(phases, self.state, loader, val_loader, self.cfg, self.device, self.ctx, io)
        finally:
            if metrics is not None:
                metrics.close()

    def _saver(
        self, extra: Callable[[TrainState], dict[str, Any]] | None
    ) -> Callable[[TrainState, dict[str, Any], dict[str, Any]], None]:
        path = self.checkpoint
        assert path is not None

        def save(st: TrainState, optimizers: dict[str, Any], schedulers: dict[str, Any]) -> None:
            save_checkpoint(
                path,
                kind=self.kind,
                step=st.step,
                epoch=st.epoch,
                models=self.models,
                optimizers=optimizers,
                schedulers=schedulers,
                extra={"phase": st.phase, "epoch": st.epoch, **(extra(st) if extra else {})},
                space=self.space,
                rng=st.rng,
            )

        return save
