"""Fairness metrics: multi-class equalized odds and their fairlearn cross-check."""

from ._equalized_odds import class_gaps, equalized_odds_difference, recall_by_group
from ._fairlearn import fairlearn_crosscheck, fairlearn_metric_frame

__all__ = [
    "class_gaps",
    "equalized_odds_difference",
    "fairlearn_crosscheck",
    "fairlearn_metric_frame",
    "recall_by_group",
]
