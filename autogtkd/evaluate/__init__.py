"""Scoring candidates: accuracy after distillation from the generic teacher.

* :class:`InheritScorer` (``inherit``): supernet weights + BatchNorm recalibration, then top-1 (fast);
* :class:`FinetuneScorer` (``finetune``): a short KD fine-tune from the teacher, then top-1 (faithful);
* :class:`AccuracyPredictor`: a scikit-learn regressor on architecture encodings (pre-screening);
* :class:`FunctionEvaluator`: your own ``arch -> metrics`` function; :class:`CachedEvaluator`: a
  cache by canonical architecture;
* :func:`evaluate_dir` (``autogtkd evaluate``): top-1 and per-class accuracy (:func:`class_accuracy`)
  of a saved student or teacher on a validation or official test split.
"""

from autogtkd.evaluate._base import CachedEvaluator, Evaluator, FunctionEvaluator, as_evaluator, check_metrics
from autogtkd.evaluate._dir import ClassAccuracy, DirEvaluation, class_accuracy, evaluate_dir
from autogtkd.evaluate._predictor import AccuracyPredictor, kendall_tau
from autogtkd.evaluate._scorers import FinetuneScorer, InheritScorer
from autogtkd.nn import recalibrate_bn  # re-exported: the scorers' BatchNorm step, defined below training

__all__ = [
    "AccuracyPredictor",
    "CachedEvaluator",
    "ClassAccuracy",
    "DirEvaluation",
    "Evaluator",
    "FinetuneScorer",
    "FunctionEvaluator",
    "InheritScorer",
    "as_evaluator",
    "check_metrics",
    "class_accuracy",
    "evaluate_dir",
    "kendall_tau",
    "recalibrate_bn",
]
