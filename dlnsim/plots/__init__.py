"""Figures of the papers: phase portraits, map learning curves, teacher-student, GN norms.

Every figure function returns a ``matplotlib.figure.Figure`` (built without pyplot, so importing
this package chooses no backend and inline figures in a notebook keep working) whose axes carry
the paper's notation; :func:`save` writes one atomically, :func:`write_figures` all of them.

* :mod:`~dlnsim.plots.portraits`: phase portraits (Figs 1, 3);
* :mod:`~dlnsim.plots.papers`: Figs 2, 4, 5, the GN-norm, other-rules and depth-2 width-256
  figures, and lazy-to-rich learning at depth 2 (beyond the papers);
* :mod:`~dlnsim.plots.data`: the numbers behind them, apart from the drawing.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from matplotlib.figure import Figure

from dlnsim._io import atomic_write, check_output_folder
from dlnsim.plots.data import (
    FIG2_EXPONENTS,
    FIG2_TARGETS,
    early_stopping,
    fig2_data,
    gn_norm_data,
)
from dlnsim.plots.papers import (
    fig2,
    fig4,
    fig5,
    fig_depth2_wide,
    fig_gn_norm,
    fig_lazy_rich,
    fig_other_rules,
    phase_diagram,
)
from dlnsim.plots.portraits import PhasePortrait, conserved_quantity, fig1, fig3, phase_portrait
from dlnsim.plots.style import RULE_COLORS, RULE_LABELS, rule_label

FIGURES: dict[str, Callable[[], Figure]] = {
    "fig1": fig1, "fig2": fig2, "fig3": fig3, "fig4": fig4, "fig5": fig5,
    "gn_norm": fig_gn_norm, "other_rules": fig_other_rules, "depth2_wide": fig_depth2_wide,
    "phase_diagram": phase_diagram, "lazy_rich": fig_lazy_rich,
}


FORMATS = ("png", "pdf", "svg")


def check_format(path: str, name: str = "path") -> str:
    """Refuse, before anything is drawn, a file whose extension is not a figure format.

    Parameters
    ----------
    path : str
        The figure's file.
    name : str
        The argument, for the message.

    Returns
    -------
    str
        The format (the extension, lower case).
    """
    ext = os.path.splitext(os.fspath(path))[1].lstrip(".").lower()
    if ext not in FORMATS:
        raise ValueError(f"{name} must end in .png, .pdf or .svg, got {os.fspath(path)!r}")
    return ext


def save(fig: Figure, path: str, dpi: int = 100) -> None:
    """Write a figure atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str
        The file; its extension is the format.
    dpi : int
        Resolution of raster formats.
    """
    ext = os.path.splitext(path)[1].lstrip(".")
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=ext))


# Figures drawn from the same cached experiment go to the same worker (fig4 and fig5 share
# the teacher-student runs); the rest are handed out longest first by these seconds (one
# BLAS thread, 2-core machine; the others take under 1 s each).
SHARED = (("fig4", "fig5"),)
SECONDS = {"depth2_wide": 9.0, "fig4": 5.0, "phase_diagram": 1.3}


def _groups(names: list[str]) -> list[tuple[str, ...]]:
    groups = [tuple(n for n in g if n in names) for g in SHARED]
    groups = [g for g in groups if g]
    grouped = {n for g in groups for n in g}
    groups += [(n,) for n in names if n not in grouped]
    return sorted(groups, key=lambda g: -sum(SECONDS.get(n, 0.5) for n in g))


def _draw(names: tuple[str, ...], out: str, fmt: str) -> list[str]:
    """Build and save the figures ``names`` in this process; return their paths."""
    paths = []
    for name in names:
        path = os.path.join(out, f"{name}.{fmt}")
        save(FIGURES[name](), path)
        paths.append(path)
    return paths


def write_figures(out: str = "figures", only: str | None = None, fmt: str = "png",
                  written: list | None = None, workers: int | None = 1) -> list[str]:
    """Build and save the figures (all, or the one named ``only``); return the paths.

    The folder is checked (created if missing, writable) before any figure is computed;
    ``written``, if given, receives each path as soon as its file exists (what an interrupted
    call has written).

    Parameters
    ----------
    out : str
        The folder.
    only : str, optional
        One name of :data:`FIGURES`.
    fmt : str
        ``"png"`` or ``"pdf"``.
    written : list, optional
        Receives each path as soon as its file exists.
    workers : int, optional
        Worker processes drawing figures side by side, one BLAS thread each (None: the CPUs
        this process may use; 1, the default: all in this process). The files do not depend
        on it.

    Returns
    -------
    list of str
        In the order of :data:`FIGURES`.
    """
    from dlnsim import _pool, threads
    from dlnsim import _validate as V

    if fmt not in ("png", "pdf"):
        raise ValueError(f"format must be 'png' or 'pdf', got {fmt!r}")
    if only is not None and only not in FIGURES:
        raise ValueError(f"only must be one of {sorted(FIGURES)}, got {only!r}")
    if workers is not None:
        V.positive_int(workers, "workers")
    check_output_folder(out, "out")
    paths = [] if written is None else written
    groups = _groups([n for n in FIGURES if only is None or n == only])
    n_workers = min(threads.available_cpus() if workers is None else workers, len(groups))
    if n_workers <= 1:
        for group in groups:
            paths += _draw(group, out, fmt)
    else:
        left = _pool.run_tasks(groups, _draw, lambda g: (g, out, fmt), n_workers,
                               lambda g, drawn: paths.extend(drawn), preload=("dlnsim.plots",))
        for group in left:  # a worker died: draw its figures here
            paths += _draw(group, out, fmt)
    order = {os.path.join(out, f"{name}.{fmt}"): k for k, name in enumerate(FIGURES)}
    return sorted(paths, key=order.__getitem__)


__all__ = ["FIG2_EXPONENTS", "FIG2_TARGETS", "FIGURES", "PhasePortrait", "RULE_COLORS",
           "RULE_LABELS", "check_format", "conserved_quantity", "early_stopping", "fig1",
           "fig2", "fig2_data", "fig3", "fig4", "fig5", "fig_depth2_wide", "fig_gn_norm",
           "fig_lazy_rich", "fig_other_rules", "gn_norm_data", "phase_diagram",
           "phase_portrait", "rule_label", "save", "write_figures"]


def __dir__() -> list[str]:
    """The public names (tab completion and ``dir()`` show no imports)."""
    return sorted(__all__ + ["FORMATS", "SECONDS", "data", "papers", "planes", "portraits",
                             "runs", "style"])
