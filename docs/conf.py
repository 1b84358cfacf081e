"""Sphinx configuration of the skdistill documentation."""

import skdistill

project = "skdistill"
author = "skdistill developers"
copyright = "2026, skdistill developers"
release = skdistill.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_default_options = {
    "members": True,
    "inherited-members": False,
    # scikit-learn's generated metadata-routing setters refer to scikit-learn's own glossary
    "exclude-members": ",".join(
        f"set_{m}_request"
        for m in ("fit", "score", "fit_resample", "predict", "predict_proba", "partial_fit")
    ),
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# no network access while building: cross-references to other projects are not resolved
intersphinx_mapping = {}

html_theme = "pydata_sphinx_theme"
html_title = f"skdistill {release}"
html_theme_options = {"navigation_with_keys": False}
