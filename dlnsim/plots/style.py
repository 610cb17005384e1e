"""Shared look of the figures: the paper's rule names and colours, and a pyplot-free
``subplots`` (figures are plain ``matplotlib.figure.Figure`` objects: no backend is chosen at
import, nothing is registered with pyplot, and notebooks display them inline)."""

from __future__ import annotations

import math

from matplotlib.figure import Figure


def subplots(nrows: int = 1, ncols: int = 1, figsize=None, **kw):
    """``(figure, axes)`` like ``pyplot.subplots``, without pyplot's global state."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kw)


RULE_COLORS = {"SGD": "#1b9e77", "NGD": "#d95f02", "sqrt-NGD": "#7570b3", "NGD-d": "#e7298a",
               "sqrt-NGD-d": "#66a61e"}
RULE_LABELS = {"SGD": "SGD", "NGD": "NGD", "sqrt-NGD": r"$\sqrt{\rm NGD}$", "NGD-d": "NGD-d",
               "sqrt-NGD-d": r"$\sqrt{\rm NGD}$-d"}


def rule_label(q: float, block_diagonal: bool) -> str:
    """The paper's name of a rule: SGD, NGD, sqrt-NGD, q-NGD, with -d for block-diagonal.

    Parameters
    ----------
    q : float
        Curvature order.
    block_diagonal : bool
        Block-diagonal (NGD-d).

    Returns
    -------
    str
        A matplotlib label.
    """
    if math.isinf(q):
        name = "SGD"
    elif q == 1:
        name = "NGD"
    elif q == 2:
        name = r"$\sqrt{\rm NGD}$"
    else:
        name = rf"$\sqrt[{q:g}]{{\rm NGD}}$"
    return name + ("-d" if block_diagonal and not math.isinf(q) else "")


