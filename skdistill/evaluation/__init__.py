"""Evaluation of synthetic sets: models trained from scratch, accuracy and equalized odds."""

from ._evaluate import evaluate_synthetic, synthetic_set_residuals
from ._train import predict_codes, train_network

__all__ = ["evaluate_synthetic", "predict_codes", "synthetic_set_residuals", "train_network"]
