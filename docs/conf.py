"""Sphinx configuration of dlnsim's documentation.

Build (warnings are errors): ``python -m sphinx -W -b html docs docs/_build/html``.

Generated at build time into ``docs/_generated/`` (never committed): the claims catalogue
from ``theory/*.md`` with the errors of a ``dlnsim verify --json`` run (the build runs it, or
reads ``$DLNSIM_VERIFY_JSON`` when CI has just written it for the same checkout), the CLI
reference from the argument parser, the figure gallery from ``plots.FIGURES``, and copies of
the notebooks, which myst-nb executes.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import generate  # noqa: E402  (docs/generate.py)

from dlnsim._version import __version__  # noqa: E402
from dlnsim.testing import STRATEGIES  # noqa: E402

project = "dlnsim"
author = "the dlnsim developers"
copyright = "2026, the dlnsim developers"
release = version = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax copied into _static: math renders without a network
    "numpydoc",
    "myst_nb",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "README.md"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
myst_dmath_double_inline = True  # theory/*.md puts $$...$$ inside list items

autosummary_generate = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# The public API's docstrings are checked; a failure fails the build. numpydoc flags a missing
# docstring of any documented object (GL08); generate.validate_docstrings holds every public
# function, class and method also to documented parameters (PR01, PR02) and returns (RT01).
numpydoc_validation_checks = {"GL08"}
# hypothesis' @composite wrappers hide their source from numpydoc's validator (they have
# docstrings; tests/test_docs.py checks them); Status is an IntEnum (int's methods are not ours)
numpydoc_validation_exclude = {r"\.__init__$", r"\.__repr__$", r"\.__call__$",
                               r"^dlnsim\.testing\.(" + "|".join(STRATEGIES) + r")$",
                               r"^dlnsim\.Status\."}
executed_already = generate.build(ROOT, HERE)
# the notebooks run here, unless the test suite of this checkout has just run them
nb_execution_mode = "off" if executed_already else os.environ.get("DLNSIM_DOCS_EXECUTE",
                                                                  "force")
nb_execution_timeout = 300
nb_execution_in_temp = True  # notebook 06 writes a claims file into its working folder
nb_execution_raise_on_error = True
nb_execution_show_tb = True

html_theme = "pydata_sphinx_theme"
html_title = f"dlnsim {version}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path: list[str] = []



def setup(app):
    app.connect("builder-inited", generate.check_docstrings)
    app.connect("build-finished", generate.check_notebook_figures)
    app.connect("build-finished", generate.check_offline_math)
