"""skdistill: fair dataset distillation with a scikit-learn face."""

from ._distiller import BarycentricDistiller

__version__ = "0.1.0"

__all__ = ["BarycentricDistiller", "__version__"]
