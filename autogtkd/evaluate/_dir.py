"""Accuracy of a saved model on a dataset split: the library side of ``autogtkd evaluate``.

:func:`evaluate_dir` reads a student directory or the teacher of a training run directory
(:func:`autogtkd.export.load_model_dir`), rebuilds the split it names -- by default exactly the
validation split the directory records, so the number matches the training-time validation -- and
returns top-1 and per-class accuracy (:func:`class_accuracy`), all as fractions in [0, 1].
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from autogtkd.data import load_data, load_test_split
from autogtkd.exceptions import ConfigError, DataError
from autogtkd.export import load_model_dir
from autogtkd.nn import cpu_threads
from autogtkd.train import DatasetSpec, resolve_device

__all__ = ["ClassAccuracy", "DirEvaluation", "class_accuracy", "evaluate_dir"]

EvalSplit = Literal["val", "test"]


@dataclass(frozen=True)
class ClassAccuracy:
    """Correct predictions and images per class.

    Attributes:
        correct: correctly classified images of each class (index = label).
        total: images of each class.
    """

    correct: tuple[int, ...]
    total: tuple[int, ...]

    @property
    def n_images(self) -> int:
        return sum(self.total)

    @property
    def top1(self) -> float:
        """Fraction of all images classified correctly (0.0 for no images)."""
        return sum(self.correct) / max(self.n_images, 1)

    @property
    def per_class(self) -> tuple[float | None, ...]:
        """Top-1 of each class (fraction); None for a class without images."""
        return tuple(c / t if t else None for c, t in zip(self.correct, self.total))


def class_accuracy(
    model: nn.Module,
    loader: Any,
    num_classes: int,
    *,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> ClassAccuracy:
    """Top-1 accuracy of ``model`` overall and per class over ``loader`` (eval mode, no gradients;
    the model's mode is restored). ``loader`` yields ``(images (B, C, H, W), labels (B,) int64)``;
    ``progress`` shows a tqdm bar of batches on stderr.

    ``ClassAccuracy.top1`` counts exactly what :func:`autogtkd.nn.top1` counts over the same batches.

    Example:
        >>> acc = class_accuracy(model, splits.loader("val", 256), splits.num_classes)   # doctest: +SKIP
        >>> acc.top1, acc.per_class[3]                                                  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    correct = torch.zeros(num_classes, dtype=torch.int64)
    total = torch.zeros(num_classes, dtype=torch.int64)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            bar = tqdm(
                loader,
                total=len(loader),
                desc="evaluate",
                unit="batch",
                leave=False,
                file=sys.stderr,
                disable=not progress,
                dynamic_ncols=True,
            )
            for x, y in bar:
                pred = model(x.to(device)).argmax(1).cpu()  # (B,)
                if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
                    raise DataError(f"labels outside [0, {num_classes}) in the evaluated split")
                total += torch.bincount(y, minlength=num_classes)
                correct += torch.bincount(y[pred == y], minlength=num_classes)
    finally:
        model.train(was)
    return ClassAccuracy(tuple(int(v) for v in correct), tuple(int(v) for v in total))


@dataclass(frozen=True)
class DirEvaluation:
    """What :func:`evaluate_dir` measured.

    Attributes:
        dir: the evaluated directory. kind: ``student``, ``teacher`` (a vanilla run) or ``run`` (its teacher).
        model: ``"student"`` or ``"teacher NAME"``.
        dataset: dataset name. split: ``val`` or ``test``.
        split_info: how the split was made (``image_size``, ``data_dir``; for ``val`` also
            ``val_fraction``, ``seed``, ``subset``).
        class_names: one name per label. accuracy: the counts.
        recorded_top1: the validation top-1 the directory recorded at training time for this very
            split (fraction), None when it recorded none or the split differs.
    """

    dir: Path
    kind: str
    model: str
    dataset: str
    split: EvalSplit
    split_info: dict[str, Any]
    class_names: list[str]
    accuracy: ClassAccuracy
    recorded_top1: float | None = None

    @property
    def top1(self) -> float:
        return self.accuracy.top1

    @property
    def n_images(self) -> int:
        return self.accuracy.n_images

    def describe_split(self) -> str:
        """One line, e.g. ``val split of cifar10 (val_fraction 0.2, seed 0, subset all, 32px)``."""
        i = self.split_info
        if self.split == "test":
            return f"official test split of {self.dataset} ({i['image_size']}px)"
        subset = "all" if i["subset"] is None else i["subset"]
        return (
            f"val split of {self.dataset} (val_fraction {i['val_fraction']}, seed {i['seed']}, subset {subset}, "
            f"{i['image_size']}px)"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``top1``, ``per_class`` ({class name: fraction | None}), ``class_images``,
        ``n_images``, ``split``, ``split_description``, ``split_info``, ``dataset``, ``dir``, ``kind``,
        ``model``, ``recorded_top1``; accuracies as fractions in [0, 1]."""
        return {
            "dir": str(self.dir),
            "kind": self.kind,
            "model": self.model,
            "dataset": self.dataset,
            "split": self.split,
            "split_description": self.describe_split(),
            "split_info": dict(self.split_info),
            "n_images": self.n_images,
            "top1": self.top1,
            "per_class": dict(zip(self.class_names, self.accuracy.per_class)),
            "class_images": dict(zip(self.class_names, self.accuracy.total)),
            "recorded_top1": self.recorded_top1,
        }


# long: its signature and docstring (what is read and reported) take 45 lines; the code is 56
def evaluate_dir(
    dir: str | Path,
    *,
    split: EvalSplit = "val",
    dataset: str | None = None,
    data_dir: str | Path | None = None,
    image_size: int | None = None,
    val_fraction: float | None = None,
    seed: int | None = None,
    subset: int | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    threads: int | None = None,
    progress: bool = False,
    space: Any = None,
) -> DirEvaluation:
    """Top-1 and per-class accuracy of the model in ``dir`` on a split of a dataset.

    ``dir`` is a student directory (``autogtkd distill``) or a training run directory (``autogtkd
    train``; its teacher is evaluated), read by :func:`autogtkd.export.load_model_dir`.

    The dataset defaults to the one ``dir`` records (a run's ``config.json``; a student's
    ``metrics.json`` ``"dataset"`` or, through ``distill.json``, its training run's); each argument
    given overrides that field. Without a recorded dataset ``dataset`` is required, and ``image_size``
    defaults to the model's input size.

    Args:
        split: ``"val"``: the seeded, stratified validation split of :func:`autogtkd.data.load_data`
            (with the recorded arguments and the default ``batch_size`` it is the training-time split
            and batching, so ``top1`` equals the recorded validation top-1); ``"test"``: the official
            test split (:func:`autogtkd.data.load_test_split`; ``val_fraction``, ``seed`` and
            ``subset`` do not apply).
        batch_size: images per forward pass. device: ``cpu`` (default), ``cuda``, ``mps`` or ``auto``.
        threads: torch CPU threads during the evaluation (None: unchanged).
        progress: a progress bar of batches on stderr.
        space: search space of a student whose ``arch.json`` cannot rebuild it (``.py`` spaces).

    Raises:
        InvalidInputError (one line): a bad directory, no dataset, a missing test split, a dataset
        whose classes or channels do not match the model.

    Example:
        >>> ev = evaluate_dir("runs/student", split="val")      # doctest: +SKIP
        >>> round(ev.top1, 3), ev.n_images                       # doctest: +SKIP
    """
    if split not in ("val", "test"):
        raise ConfigError(f"split must be 'val' or 'test', got {split!r}")
    if batch_size < 1:
        raise ConfigError(f"batch size must be >= 1, got {batch_size}")
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be >= 1, got {threads}")
    md = load_model_dir(dir, space=space)
    recorded = DatasetSpec(**{"image_size": md.input_shape[1], **md.dataset}) if md.dataset is not None else None
    if recorded is None and dataset is None:
        raise ConfigError(f"{md.path} records no dataset; name one (--dataset cifar10|cifar100|imagefolder|digits)")
    base = recorded or DatasetSpec(name=str(dataset), image_size=md.input_shape[1])
    given: dict[str, Any] = {
        "name": dataset,
        "data_dir": None if data_dir is None else str(data_dir),
        "image_size": image_size,
        "val_fraction": val_fraction,
        "seed": seed,
        "subset": subset,
    }
    spec = replace(base, **{k: v for k, v in given.items() if v is not None})
    dev = resolve_device(device)

    if split == "val":
        splits = load_data(spec.name, spec.data_dir, spec.image_size, spec.val_fraction, spec.seed, spec.subset)
        class_names, in_channels = splits.class_names, splits.in_channels
        if len(splits.val) == 0:
            raise DataError(f"the val split of {spec.name} is empty (val_fraction {spec.val_fraction})")
        info: dict[str, Any] = {f.name: getattr(spec, f.name) for f in fields(spec) if f.name != "name"}
        loader = splits.loader("val", batch_size, shuffle=False, augment=False)
    else:
        test = load_test_split(spec.name, spec.data_dir, spec.image_size)
        class_names, in_channels = test.class_names, int(test.data.images.shape[1])
        info = {"image_size": spec.image_size, "data_dir": spec.data_dir}
        loader = test.loader(batch_size)
    if len(class_names) != md.num_classes:
        raise ConfigError(f"the model in {md.path} has {md.num_classes} classes, {spec.name} has {len(class_names)}")
    if in_channels != md.input_shape[0]:
        raise ConfigError(f"the model in {md.path} takes {md.input_shape[0]} channels, {spec.name} has {in_channels}")

    same_split = (
        split == "val" and recorded is not None and replace(spec, data_dir=None) == replace(recorded, data_dir=None)
    )
    model = md.model.to(dev)
    with cpu_threads(threads):
        acc = class_accuracy(model, loader, md.num_classes, device=dev, progress=progress)
    return DirEvaluation(
        dir=md.path,
        kind=md.kind,
        model="student" if md.teacher is None else f"teacher {md.teacher}",
        dataset=spec.name,
        split=split,
        split_info=info,
        class_names=list(class_names),
        accuracy=acc,
        recorded_top1=md.val_top1 if same_split else None,
    )
