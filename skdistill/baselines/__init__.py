"""Baselines to compare distilled sets with.

Random subsets, fairlearn's mitigations on the full data, and the COBRA paper's
interventions around vanilla distillation (RF, DF, MF).
"""

from ._fairlearn import MITIGATIONS, fairlearn_mitigations
from ._interventions import (
    FairFeatureExtractor,
    balanced_weights,
    fair_downstream_weights,
    fit_group_classifier,
)
from ._random import random_subset

__all__ = [
    "MITIGATIONS",
    "FairFeatureExtractor",
    "balanced_weights",
    "fair_downstream_weights",
    "fairlearn_mitigations",
    "fit_group_classifier",
    "random_subset",
]
