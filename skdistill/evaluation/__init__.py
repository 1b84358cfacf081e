"""Evaluation of synthetic sets: models trained from scratch, accuracy and equalized odds."""

from ._evaluate import evaluate_synthetic
from ._train import predict_codes, train_network

__all__ = ["evaluate_synthetic", "predict_codes", "train_network"]
