"""Fairness metrics: multi-class equalized odds, their fairlearn cross-check, residual checks."""

from ._equalized_odds import class_gaps, equalized_odds_difference, recall_by_group
from ._fairlearn import fairlearn_crosscheck, fairlearn_metric_frame, model_metric_frame
from ._residuals import residual_diagnostics

__all__ = [
    "class_gaps",
    "equalized_odds_difference",
    "fairlearn_crosscheck",
    "fairlearn_metric_frame",
    "model_metric_frame",
    "recall_by_group",
    "residual_diagnostics",
]
