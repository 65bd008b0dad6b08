"""Export students and teachers to ONNX / TorchScript / a state dict, and the student-directory layout.

A *student directory* is what ``autogtkd distill`` writes (with :func:`save_student_dir`) and
``autogtkd export DIR`` reads (with :func:`load_student_dir`); the format is defined in
``autogtkd/train/_student_dir.py``, beside its writer, and re-exported here::

    DIR/student.pt     checkpoint (autogtkd format, kind "student", models={"student": ...})
    DIR/arch.json      {"space": registered name | space.to_dict(), "num_classes", "input_size",
                        "in_channels", "arch": {decision: value}, "flops" (MACs, batch 1), "params"}
    DIR/metrics.json   e.g. {"top1": 0.73} (accuracy as a fraction in [0, 1])

:func:`load_model_dir` reads a student directory or the teacher of a training run directory
(``autogtkd train``: ``config.json``, ``checkpoint.pt``), as ``autogtkd export`` and
``autogtkd evaluate`` do. :func:`export_model` writes ``model.onnx`` | ``model.torchscript.pt`` |
``model.pt`` with its own ``arch.json`` (plus export details) and ``metrics.json``.

Example:
    >>> save_student_dir("runs/s1", model, arch, space, {"top1": 0.71})            # doctest: +SKIP
    >>> model, arch, space, metrics = load_student_dir("runs/s1")                  # doctest: +SKIP
    >>> export_model(model, "runs/s1/export", format="onnx",
    ...              input_shape=(3, 32, 32), arch=arch, metrics=metrics)          # doctest: +SKIP
"""

from autogtkd.export._export import EXPORT_FORMATS, MODEL_FILES, ExportResult, export_model
from autogtkd.export._student import ModelDir, load_model_dir
from autogtkd.train._student_dir import (
    ARCH_FILE,
    METRICS_FILE,
    STUDENT_FILE,
    load_student_dir,
    save_student_dir,
    space_spec,
)

__all__ = [
    "ARCH_FILE",
    "EXPORT_FORMATS",
    "METRICS_FILE",
    "MODEL_FILES",
    "STUDENT_FILE",
    "ExportResult",
    "ModelDir",
    "export_model",
    "load_model_dir",
    "load_student_dir",
    "save_student_dir",
    "space_spec",
]
