"""Optional dependencies: imported when used, with a message naming the extra to install."""

from __future__ import annotations

import importlib

MSG_MISSING = (
    "{what} needs {package}, which is not installed; install it with "
    '`pip install "skdistill[{extra}]"`.'
)
#: The distribution that provides each optional top-level module.
PACKAGES = {"matplotlib": "matplotlib", "mlxtend": "mlxtend", "PIL": "pillow", "yaml": "pyyaml"}


class MissingDependency(ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def import_optional(module: str, extra: str, what: str):
    """Import ``module``, or raise an ``ImportError`` naming the extra that provides it.

    Parameters
    ----------
    module : str
        Module to import (e.g. ``"matplotlib.figure"``).
    extra : str
        skdistill's extra that installs it (e.g. ``"bench"``).
    what : str
        The feature that needs it, for the message.

    Returns
    -------
    module

    Raises
    ------
    MissingDependency
        An ``ImportError`` whose message names the package and the extra.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        package = PACKAGES.get(top, top)
        message = MSG_MISSING.format(what=what, package=package, extra=extra)
        raise MissingDependency(message) from exc
