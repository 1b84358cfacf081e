"""skdistill: fair dataset distillation with a scikit-learn face."""

from ._classifier import DistilledClassifier
from ._distiller import BarycentricDistiller
from ._persistence import load, load_synthetic

__version__ = "0.1.0"

__all__ = ["BarycentricDistiller", "DistilledClassifier", "__version__", "load", "load_synthetic"]
