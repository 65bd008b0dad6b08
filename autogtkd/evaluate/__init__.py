"""Scoring candidates: accuracy after distillation from the generic teacher.

* :class:`InheritScorer` (``inherit``): supernet weights + BatchNorm recalibration, then top-1 (fast);
* :class:`FinetuneScorer` (``finetune``): a short KD fine-tune from the teacher, then top-1 (faithful);
* the scorer registry (:data:`SCORERS`, :func:`register_scorer`, :func:`create_scorer`): what
  ``autogtkd search --scorer`` accepts;
* :class:`AccuracyPredictor`: a scikit-learn regressor on architecture encodings (pre-screening);
* :class:`FunctionEvaluator`: your own ``arch -> metrics`` function; :class:`CachedEvaluator`: a
  cache by canonical architecture;
* :func:`evaluate_dir` (``autogtkd evaluate``): top-1 and per-class accuracy (:func:`class_accuracy`)
  of a saved student or teacher on a validation or official test split.
"""

from autogtkd.evaluate._base import CachedEvaluator, Evaluator, FunctionEvaluator, as_evaluator, check_metrics
from autogtkd.evaluate._dir import ClassAccuracy, DirEvaluation, class_accuracy, evaluate_dir
from autogtkd.evaluate._predictor import AccuracyPredictor, kendall_tau
from autogtkd.evaluate._scorers import (
    SCORERS,
    FinetuneScorer,
    InheritScorer,
    ScorerFactory,
    ScorerOptions,
    create_scorer,
    list_scorers,
    register_scorer,
)
from autogtkd.nn import recalibrate_bn  # re-exported: the scorers' BatchNorm step, defined below training

__all__ = [
    "SCORERS",
    "AccuracyPredictor",
    "CachedEvaluator",
    "ClassAccuracy",
    "DirEvaluation",
    "Evaluator",
    "FinetuneScorer",
    "FunctionEvaluator",
    "InheritScorer",
    "ScorerFactory",
    "ScorerOptions",
    "as_evaluator",
    "check_metrics",
    "class_accuracy",
    "create_scorer",
    "evaluate_dir",
    "kendall_tau",
    "list_scorers",
    "recalibrate_bn",
    "register_scorer",
]
