"""Fairness metrics: equalized odds and other multi-class criteria, fairlearn cross-checks."""

from ._criteria import (
    accuracy_by_group,
    accuracy_difference,
    demographic_parity_difference,
    equal_opportunity_difference,
    fairlearn_criteria_crosscheck,
    fairness_report,
    predictive_parity_difference,
    rate_by_group,
)
from ._equalized_odds import class_gaps, equalized_odds_difference, recall_by_group
from ._fairlearn import fairlearn_crosscheck, fairlearn_metric_frame, model_metric_frame
from ._residuals import residual_diagnostics

__all__ = [
    "accuracy_by_group",
    "accuracy_difference",
    "class_gaps",
    "demographic_parity_difference",
    "equal_opportunity_difference",
    "fairlearn_criteria_crosscheck",
    "fairness_report",
    "predictive_parity_difference",
    "rate_by_group",
    "equalized_odds_difference",
    "fairlearn_crosscheck",
    "fairlearn_metric_frame",
    "model_metric_frame",
    "recall_by_group",
    "residual_diagnostics",
]
