"""Phase portraits of singular-mode dynamics (Huh 2020, Figs 1 and 3)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from dlnsim import _validate as V
from dlnsim import modes
from dlnsim.plots.style import rule_label, subplots


# -- phase portraits (Figs 1 and 3) -----------------------------------------------------------
def conserved_quantity(q: float, block_diagonal: bool) -> Callable | None:
    """The depth-2 constant of motion of a rule (eqs 6, 20, 21, footnote 4), or None."""
    if not block_diagonal or math.isinf(q):
        return lambda a, b: a**2 - b**2
    if q == 1:
        return lambda a, b: np.log(np.abs(a)) - np.log(np.abs(b))
    e = 2 * (1 - 1 / q)
    return lambda a, b: np.abs(a) ** e - np.abs(b) ** e


@dataclass(frozen=True, eq=False)
class PhasePortrait:
    ax: Axes
    trajectory: modes.ModeTrajectory
    conserved: Callable | None


def phase_portrait(q: float = 2.0, block_diagonal: bool = False, weight_decay: float = 0.0,
                   target: float = 1.0, start=(0.12, 1.6), t_end: float = 12.0,
                   lim: float = 2.0, ax: Axes | None = None,
                   n_arrows: int = 17) -> PhasePortrait:
    """Phase portrait of a depth-2 singular mode ``(sigma_1, sigma_2)`` under a rule.

    Grey contours: the displacement ``sigma_Delta = sigma_1 sigma_2 - s*``; black: the optimal
    hyperbola ``sigma_1 sigma_2 = s*``; arrows: ``sigma_dot / |sigma_Delta|`` (lengths capped
    at 1 for readability); red: level sets of the rule's conserved quantity (none with weight
    decay); blue: the trajectory from ``start`` (dots every ``t_end / 12``).
    """
    q = V.order_q(q)
    weight_decay = V.nonnegative(weight_decay, "weight_decay")
    lim = V.positive(lim, "lim")
    if ax is None:
        _, ax = subplots(figsize=(3.6, 3.6))
    g = np.linspace(-lim, lim, 301)
    a, b = np.meshgrid(g, g, indexing="xy")
    ax.contour(a, b, a * b - target, levels=np.linspace(-3, 3, 13), colors="0.75",
               linewidths=0.6)
    ax.contour(a, b, a * b - target, levels=[0.0], colors="k", linewidths=1.6)
    conserved = None if weight_decay > 0 else conserved_quantity(q, block_diagonal)
    if conserved is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            c = conserved(a, b)
        c = np.where(np.isfinite(c), c, np.nan)
        levels = np.nanquantile(c, np.linspace(0.04, 0.96, 13))
        ax.contour(a, b, c, levels=np.unique(levels), colors="tab:red", linewidths=0.8,
                   linestyles="-")
    ga = np.linspace(-lim, lim, n_arrows) + lim / n_arrows  # avoid the exact axes (j = 0)
    A, B = np.meshgrid(ga, ga)
    sig = np.stack([A.ravel(), B.ravel()], axis=1)
    v = modes.velocity(sig, np.full(len(sig), target), q=q, block_diagonal=block_diagonal,
                       weight_decay=weight_decay)
    v = v / np.maximum(np.abs(sig.prod(axis=1) - target), 1e-12)[:, None]
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    v = v * np.minimum(1.0, 1.0 / np.maximum(norm, 1e-300))
    ax.quiver(sig[:, 0], sig[:, 1], v[:, 0], v[:, 1], color="0.35", angles="xy",
              scale_units="xy", scale=n_arrows / (2 * lim) / 0.9, width=0.004)
    ts = np.linspace(0.0, t_end, 121)
    traj = modes.simulate(np.array([start], dtype=float), [target], ts, q=q,
                          block_diagonal=block_diagonal, weight_decay=weight_decay)
    path = traj.sigma[:, 0, :]
    ax.plot(path[:, 0], path[:, 1], color="tab:blue", lw=2)
    ax.plot(path[::10, 0], path[::10, 1], "o", color="tab:blue", ms=3)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel(r"$\sigma_1$")
    ax.set_ylabel(r"$\sigma_2$")
    title = rule_label(q, block_diagonal) + (rf" + decay $\lambda={weight_decay:g}$"
                                             if weight_decay else "")
    ax.set_title(title)
    return PhasePortrait(ax, traj, conserved)


def _portrait_legend(fig, conserved_label: str) -> None:
    handles = [Line2D([], [], color="0.75", lw=0.8, label=r"$\sigma_\Delta$ = const"),
               Line2D([], [], color="k", lw=1.6, label=r"$\sigma_1\sigma_2=\bar\sigma_*$"),
               Line2D([], [], color="tab:red", lw=0.8, label=conserved_label),
               Line2D([], [], color="tab:blue", lw=2, marker="o", ms=3, label="trajectory"),
               Line2D([], [], color="0.35", marker=r"$\rightarrow$", lw=0, ms=10,
                      label=r"$\dot\sigma/|\sigma_\Delta|$ (capped)")]
    fig.legend(handles=handles, loc="lower center", ncol=5, frameon=False, fontsize=8)


def fig1() -> Figure:
    """Fig 1: depth-2 singular-mode dynamics under SGD, sqrt-NGD and NGD (s* = 1)."""
    fig, axes = subplots(1, 3, figsize=(10.5, 4.0))
    for ax, q, letter in zip(axes, (math.inf, 2.0, 1.0), "ABC"):
        # same start near the saddle and duration: dots at equal times show each speed
        phase_portrait(q=q, ax=ax, start=(0.05, 0.25), t_end=6.0)
        ax.set_title(f"({letter}) " + ax.get_title())
    _portrait_legend(fig, r"conserved $\sigma_1^2-\sigma_2^2$")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def fig3() -> Figure:
    """Fig 3: block-diagonal NGD-d (conserves sigma_1/sigma_2) and sqrt-NGD-d (|s1| - |s2|)."""
    fig, axes = subplots(1, 2, figsize=(7.2, 4.2))
    phase_portrait(q=1.0, block_diagonal=True, ax=axes[0], start=(0.45, 0.15), t_end=4.0)
    phase_portrait(q=2.0, block_diagonal=True, ax=axes[1], start=(0.45, 0.15), t_end=4.0)
    axes[0].set_title("(A) " + axes[0].get_title() + r": $\sigma_1/\sigma_2$ conserved")
    axes[1].set_title("(B) " + axes[1].get_title() + r": $|\sigma_1|-|\sigma_2|$ conserved")
    _portrait_legend(fig, "conserved quantity")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


