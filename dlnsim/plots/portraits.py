"""Phase portraits of the singular-mode dynamics of any rule (Huh 2020, Figs 1 and 3)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from dlnsim import _validate as V
from dlnsim import modes as mode_dynamics  # 'modes' is phase_portrait's argument
from dlnsim import rules as R
from dlnsim.plots.planes import (
    Law,
    Plane,
    conservation_law,
    fixed_points,
    make_plane,
)
from dlnsim.plots.style import rule_label, subplots


# -- phase portraits of any rule (Figs 1 and 3 are two of them) --------------------------------
def conserved_quantity(q: float, block_diagonal: bool) -> Callable | None:
    """The constant of motion ``fn(sigma_a, sigma_b)`` of q-NGD(-d) (eqs 6, 20, 21, footnote 4),
    or None (:func:`dlnsim.plots.planes.conservation_law` for any rule).

    Parameters
    ----------
    q : float
        Curvature order.
    block_diagonal : bool
        NGD-d instead of full q-NGD.

    Returns
    -------
    callable or None
    """
    return conservation_law(R.ngd(V.order_q(q), block_diagonal=block_diagonal)).fn


@dataclass(frozen=True, eq=False)
class PhasePortrait:
    """What :func:`phase_portrait` drew.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes drawn on.
    trajectory : ModeTrajectory
        The first run (``trajectories`` holds them all).
    conserved : callable or None
        The constant of motion ``fn(a, b)`` of the plotted layers, if any.
    law : Law
        The conservation law with its label, or the note saying why there is none.
    plane : Plane
        The phase plane.
    trajectories : tuple of ModeTrajectory
        Every run drawn.
    points, velocity : numpy.ndarray
        The field samples and the velocity there (plot coordinates, before the arrows'
        normalisation).
    fixed_points : numpy.ndarray
        Isolated fixed points in the box, shape ``(k, 2)``.
    rule : Rule
        The rule drawn.
    """

    ax: Axes
    trajectory: mode_dynamics.ModeTrajectory
    conserved: Callable | None
    law: Law = None
    plane: Plane = None
    trajectories: tuple = ()
    points: np.ndarray = None
    velocity: np.ndarray = None
    fixed_points: np.ndarray = None
    rule: R.Rule = None


def _as_rule(rule, q, block_diagonal, weight_decay) -> R.Rule:
    if isinstance(rule, R.Rule):
        if q is not None or block_diagonal or weight_decay:
            raise ValueError("give either rule or q/block_diagonal/weight_decay, not both")
        return rule
    if rule is not None and q is not None:
        raise ValueError("give either rule or q, not both")
    if rule is not None and not isinstance(rule, (int, float)):
        raise TypeError(f"rule must be a dlnsim.rules.Rule or a number q, got "
                        f"{type(rule).__name__}")
    q = V.order_q(R.DEFAULT_Q if rule is None and q is None else (rule if q is None else q))
    return mode_dynamics.mode_rule(q, block_diagonal, weight_decay=V.nonnegative(weight_decay,
                                                                          "weight_decay"))


def phase_portrait(rule=None, depth: int = 2, modes: tuple[int, int] | None = None,
                   target=1.0, *, layers: tuple[int, int] = (0, 1), start=None, starts=None,
                   t_end: float = 12.0, lim: float = 2.0, lr: float = 1.0, markers: int = 12,
                   streamlines: bool = False, n_arrows: int = 17, ax: Axes | None = None,
                   q: float | None = None, block_diagonal: bool = False,
                   weight_decay: float = 0.0) -> PhasePortrait:
    """Phase portrait of the singular-mode dynamics of any rule, at any depth.

    Parameters
    ----------
    rule : dlnsim.rules.Rule or float, optional
        Any chain of gd, ngd (full or block, any q, damping), l2, weight_decay and clip; a
        number is q. Default: built from ``q`` (2), ``block_diagonal``, ``weight_decay``.
    depth : int
        Network depth ``d``.
    modes : (i, j), optional
        Plot two modes' map strengths ``(sbar_i, sbar_j)`` of a balanced network (``target``
        then gives ``s*`` per mode). Default: one mode's two layers ``layers``.
    target : float or sequence
        ``s*`` of the mode, or of each mode.
    start, starts :
        Where trajectories start: a point of the plane (or, for layers, a full ``d``-vector;
        the other layers default to 1 and are held there for the field at ``d > 2``).
    t_end, lr, markers :
        Each run lasts ``t_end``; dots mark equal times ``t_end / markers``.
    streamlines : bool
        Streamlines of the field instead of arrows.
    layers : (a, b)
        The two layers on the axes of a plane of one mode (default the first two).
    lim : float
        Half-width of the plotted box.
    n_arrows : int
        Arrows per side of the grid.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default a new figure's axes).
    q, block_diagonal, weight_decay
        Shorthand for ``rule``: ``ngd(q, block_diagonal) -> weight_decay``.

    Returns
    -------
    PhasePortrait
        The axes and the numbers drawn. Drawn: grey contours of ``sigma_Delta``, the optimal
        manifold in black, the field (arrows ``sigma_dot / |sigma_Delta|`` capped at length 1,
        or streamlines), the rule's conserved level sets in red where a closed form exists
        (otherwise a note says why not), fixed points as open circles, and the trajectories
        with equal-time dots.

    Raises
    ------
    ValueError, TypeError
        Bad input naming the argument, or a discrete-time optimiser (no velocity field:
        :class:`dlnsim.rules.NeedsDiscreteTime`).
    """
    rule = _as_rule(rule, q, block_diagonal, weight_decay)
    if rule.discrete_only:
        raise R.NeedsDiscreteTime(rule.name)
    lim, t_end, lr = V.positive(lim, "lim"), V.positive(t_end, "t_end"), V.positive(lr, "lr")
    markers, n_arrows = V.positive_int(markers, "markers"), V.positive_int(n_arrows, "n_arrows")
    if start is not None and starts is not None:
        raise ValueError("give start or starts, not both")
    if starts is None:
        starts = None if start is None else [start]
    plane, s0 = make_plane(depth, modes, layers, target, starts)
    own = ax is None
    if own:
        _, ax = subplots(figsize=(4.2, 5.0))
    g = np.linspace(-lim, lim, 301)
    a, b = np.meshgrid(g, g, indexing="xy")
    if plane.kind == "layers":
        sd = plane.manifold(a, b)
        ax.contour(a, b, sd, levels=np.linspace(-3, 3, 13), colors="0.75", linewidths=0.6)
        ax.contour(a, b, sd, levels=[0.0], colors="k", linewidths=1.6)
    else:
        i, j = plane.axes
        ax.axvline(plane.target[i], color="k", lw=1.2, ls="--")
        ax.axhline(plane.target[j], color="k", lw=1.2, ls="--")
        ax.plot([plane.target[i]], [plane.target[j]], "*", color="k", ms=11)
    law = conservation_law(rule, plane.axes) if plane.kind == "layers" else Law(
        None, "", "balanced modes stay balanced: the plane is invariant")
    if law.fn is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            c = law.fn(a, b)
        c = np.where(np.isfinite(c), c, np.nan)
        levels = np.unique(np.nanquantile(c, np.linspace(0.04, 0.96, 13)))
        ax.contour(a, b, c, levels=levels, colors="tab:red", linewidths=0.8, linestyles="-")
    points, vel = _draw_field(ax, plane, rule, lr, lim, n_arrows, streamlines)
    fixed = fixed_points(plane, rule, lim)
    if len(fixed):
        ax.plot(fixed[:, 0], fixed[:, 1], "o", mfc="white", mec="k", ms=6, zorder=5)
    ts = np.linspace(0.0, t_end, 10 * markers + 1)
    runs = []
    for k, sig0 in enumerate(s0):
        run = mode_dynamics.simulate(sig0, plane.target, ts, rule=rule, lr=lr)
        path = plane.project(run.sigma)
        color = "tab:blue" if k == 0 else f"C{(k + 1) % 10}"
        ax.plot(path[:, 0], path[:, 1], color=color, lw=2)
        ax.plot(path[::10, 0], path[::10, 1], "o", color=color, ms=3)
        runs.append(run)
    if law.fn is None or (plane.kind == "layers" and depth > 2):
        note = law.note if law.fn is None else ""
        if plane.kind == "layers" and depth > 2:
            held = ", ".join(f"{x:.3g}" for k, x in enumerate(plane.held[0])
                             if k not in plane.axes)
            note = (note + "; " if note else "") + f"field: slice, other layers at {held}"
        ax.text(0.02, 0.02, textwrap.fill(note, 52), transform=ax.transAxes, fontsize=7,
                va="bottom",
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"})
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if plane.kind == "layers":
        ax.set_xlabel(rf"$\sigma_{plane.axes[0] + 1}$")
        ax.set_ylabel(rf"$\sigma_{plane.axes[1] + 1}$")
    else:
        ax.set_xlabel(rf"$\bar\sigma_{{{plane.axes[0] + 1}}}$ (mode {plane.axes[0] + 1})")
        ax.set_ylabel(rf"$\bar\sigma_{{{plane.axes[1] + 1}}}$ (mode {plane.axes[1] + 1})")
    ax.set_title(rule_title(rule) + ("" if depth == 2 and plane.kind == "layers"
                                     else f", $d={depth}$"))
    if own:
        _own_legend(ax, plane, law, len(fixed) > 0, streamlines, t_end / markers)
    return PhasePortrait(ax, runs[0], law.fn, law, plane, tuple(runs), points, vel, fixed, rule)


def _draw_field(ax, plane: Plane, rule, lr, lim, n_arrows, streamlines):
    """Arrows (or streamlines) of the field; returns the sample points and raw velocities."""
    ga = np.linspace(-lim, lim, n_arrows) + lim / n_arrows  # avoid the exact axes (j = 0)
    A, B = np.meshgrid(ga, ga)
    pts = np.stack([A.ravel(), B.ravel()], axis=1)
    vel = plane.velocity(pts, rule, lr)
    if streamlines:
        U, W = vel[:, 0].reshape(A.shape), vel[:, 1].reshape(A.shape)
        ax.streamplot(A, B, U, W, color="0.45", linewidth=0.7, density=1.1, arrowsize=0.8)
        return pts, vel
    sd = np.abs(plane.manifold(pts[:, 0], pts[:, 1]))
    v = vel / np.maximum(sd, 1e-12)[:, None]
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    v = v * np.minimum(1.0, 1.0 / np.maximum(norm, 1e-300))
    ax.quiver(pts[:, 0], pts[:, 1], v[:, 0], v[:, 1], color="0.35", angles="xy",
              scale_units="xy", scale=n_arrows / (2 * lim) / 0.9, width=0.004)
    return pts, vel


def rule_title(rule: R.Rule) -> str:
    """The paper's name of a rule (rule_label) with its damping, L2, decay and clipping."""
    p = R.parts(rule)
    if p.unknown:
        return rule.name
    out = rule_label(p.q, p.block_diagonal)
    if p.damping:
        out += rf", $\epsilon={p.damping:g}$"
    if p.l2:
        out += rf" + L2 $\lambda={p.l2:g}$"
    if p.weight_decay:
        out += rf" + decay $\lambda={p.weight_decay:g}$"
    if p.clip is not None:
        out += f" + clip {p.clip:g}"
    return out


def _own_legend(ax, plane: Plane, law: Law, fixed: bool, streamlines: bool, dt: float) -> None:
    """A legend under a standalone portrait, naming only what it shows."""
    if plane.kind == "layers":
        a, b = (f"\\sigma_{k + 1}" for k in plane.axes)
        dots = "\\cdots" if plane.depth > 2 else ""
        handles = [Line2D([], [], color="0.75", lw=0.8, label=r"$\sigma_\Delta$ = const"),
                   Line2D([], [], color="k", lw=1.6, label=f"${a}{b}{dots}=s_*$ (optimum)")]
    else:
        handles = [Line2D([], [], color="k", lw=1.2, ls="--", marker="*", ms=8,
                          label=r"$\bar\sigma_k=s_{*k}$ (optimum)")]
    if law.fn is not None:
        handles.append(Line2D([], [], color="tab:red", lw=0.8, label=f"{law.label} = const"))
    if fixed:
        handles.append(Line2D([], [], color="k", marker="o", mfc="white", lw=0, ms=6,
                              label="fixed points"))
    handles.append(Line2D([], [], color="tab:blue", lw=2, marker="o", ms=3,
                          label=f"trajectory (dots every {dt:g})"))
    handles.append(Line2D([], [], color="0.35", lw=0.7 if streamlines else 0,
                          marker=None if streamlines else r"$\rightarrow$", ms=10,
                          label="streamlines" if streamlines else "field (capped)"))
    fig = ax.figure
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False, fontsize=7)
    fig.tight_layout(rect=(0, 0.05 * ((len(handles) + 1) // 2), 1, 1))


def _portrait_legend(fig, conserved_label: str) -> None:
    handles = [Line2D([], [], color="0.75", lw=0.8, label=r"$\sigma_\Delta$ = const"),
               Line2D([], [], color="k", lw=1.6, label=r"$\sigma_1\sigma_2=\bar\sigma_*$"),
               Line2D([], [], color="tab:red", lw=0.8, label=conserved_label),
               Line2D([], [], color="tab:blue", lw=2, marker="o", ms=3, label="trajectory"),
               Line2D([], [], color="0.35", marker=r"$\rightarrow$", lw=0, ms=10,
                      label=r"$\dot\sigma/|\sigma_\Delta|$ (capped)")]
    fig.legend(handles=handles, loc="lower center", ncol=5, frameon=False, fontsize=8)


def fig1() -> Figure:
    """Fig 1: depth-2 singular-mode dynamics under SGD, sqrt-NGD and NGD (s* = 1).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = subplots(1, 3, figsize=(10.5, 4.0))
    for ax, q, letter in zip(axes, (math.inf, 2.0, 1.0), "ABC"):
        # same start near the saddle and duration: dots at equal times show each speed
        phase_portrait(q=q, ax=ax, start=(0.05, 0.25), t_end=6.0)
        ax.set_title(f"({letter}) " + ax.get_title())
    _portrait_legend(fig, r"conserved $\sigma_1^2-\sigma_2^2$")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def fig3() -> Figure:
    """Fig 3: block-diagonal NGD-d (conserves ``sigma_1 / sigma_2``) and sqrt-NGD-d
    (conserves ``|sigma_1| - |sigma_2|``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = subplots(1, 2, figsize=(7.2, 4.2))
    phase_portrait(q=1.0, block_diagonal=True, ax=axes[0], start=(0.45, 0.15), t_end=4.0)
    phase_portrait(q=2.0, block_diagonal=True, ax=axes[1], start=(0.45, 0.15), t_end=4.0)
    axes[0].set_title("(A) " + axes[0].get_title() + r": $\sigma_1/\sigma_2$ conserved")
    axes[1].set_title("(B) " + axes[1].get_title() + r": $|\sigma_1|-|\sigma_2|$ conserved")
    _portrait_legend(fig, "conserved quantity")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


