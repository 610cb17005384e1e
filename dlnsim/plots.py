"""Figures of the papers: phase portraits, map learning curves, teacher-student, GN norms.

Every figure function returns a ``matplotlib.figure.Figure`` whose axes carry the paper's
notation; :func:`save` writes them atomically. Built on :mod:`dlnsim.modes`,
:mod:`dlnsim.symbolic` and :mod:`dlnsim.experiments` only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # files only; no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from dlnsim import _validate as V  # noqa: E402
from dlnsim import curvature, experiments, modes, symbolic  # noqa: E402
from dlnsim._io import atomic_write  # noqa: E402
from dlnsim.network import Network  # noqa: E402

RULE_COLORS = {"SGD": "#1b9e77", "NGD": "#d95f02", "sqrt-NGD": "#7570b3", "NGD-d": "#e7298a",
               "sqrt-NGD-d": "#66a61e"}
RULE_LABELS = {"SGD": "SGD", "NGD": "NGD", "sqrt-NGD": r"$\sqrt{\rm NGD}$", "NGD-d": "NGD-d",
               "sqrt-NGD-d": r"$\sqrt{\rm NGD}$-d"}


def rule_label(q: float, block_diagonal: bool) -> str:
    """The paper's name of a rule: SGD, NGD, sqrt-NGD, q-NGD, with -d for block-diagonal."""
    if math.isinf(q):
        name = "SGD"
    elif q == 1:
        name = "NGD"
    elif q == 2:
        name = r"$\sqrt{\rm NGD}$"
    else:
        name = rf"$\sqrt[{q:g}]{{\rm NGD}}$"
    return name + ("-d" if block_diagonal and not math.isinf(q) else "")


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
    ax: plt.Axes
    trajectory: modes.ModeTrajectory
    conserved: Callable | None


def phase_portrait(q: float = 2.0, block_diagonal: bool = False, weight_decay: float = 0.0,
                   target: float = 1.0, start=(0.12, 1.6), t_end: float = 12.0,
                   lim: float = 2.0, ax: plt.Axes | None = None,
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
        _, ax = plt.subplots(figsize=(3.6, 3.6))
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


def fig1() -> plt.Figure:
    """Fig 1: depth-2 singular-mode dynamics under SGD, sqrt-NGD and NGD (s* = 1)."""
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 4.0))
    for ax, q, letter in zip(axes, (math.inf, 2.0, 1.0), "ABC"):
        # same start near the saddle and duration: dots at equal times show each speed
        phase_portrait(q=q, ax=ax, start=(0.05, 0.25), t_end=6.0)
        ax.set_title(f"({letter}) " + ax.get_title())
    _portrait_legend(fig, r"conserved $\sigma_1^2-\sigma_2^2$")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def fig3() -> plt.Figure:
    """Fig 3: block-diagonal NGD-d (conserves sigma_1/sigma_2) and sqrt-NGD-d (|s1| - |s2|)."""
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 4.2))
    phase_portrait(q=1.0, block_diagonal=True, ax=axes[0], start=(0.45, 0.15), t_end=4.0)
    phase_portrait(q=2.0, block_diagonal=True, ax=axes[1], start=(0.45, 0.15), t_end=4.0)
    axes[0].set_title("(A) " + axes[0].get_title() + r": $\sigma_1/\sigma_2$ conserved")
    axes[1].set_title("(B) " + axes[1].get_title() + r": $|\sigma_1|-|\sigma_2|$ conserved")
    _portrait_legend(fig, "conserved quantity")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


# -- map learning curves (Fig 2) --------------------------------------------------------------
FIG2_TARGETS = (0.5, 1.0, 2.0)
FIG2_EXPONENTS = (0.0, 0.5, 1.0, 2.0)


def fig2_data(p: float, targets=FIG2_TARGETS) -> dict:
    """Simulation, closed form and half-max points of eq 17 at etabar = 1 for exponent p.

    Zero initial condition for p < 1 (the simulation starts from 1e-12 s*, which the closed
    form at the same start matches), s*/100 for p >= 1.
    """
    import sympy as sp

    init = [ss / 100 if p >= 1 else 0.0 for ss in targets]
    halves = [symbolic.half_max_time_exponent(p, ss, 1.0, init=i or None)
              for ss, i in zip(targets, init)]
    t = np.linspace(0.0, 2.5 * max(halves), 400)
    seeds = [i if i > 0 else ss * 1e-12 for ss, i in zip(targets, init)]
    sim = modes.simulate_map_exponent(seeds, list(targets), t, p=p, atol=1e-30).map
    if p in (0.0, 0.5, 1.0):
        expr = symbolic.closed_form(p, zero_init=p < 1)
        f = sp.lambdify((symbolic.t, symbolic.s_star, symbolic.s0, symbolic.eta), expr, "numpy")
        closed = [(t, f(t, ss, i, 1.0) * np.ones_like(t)) for ss, i in zip(targets, init)]
    else:  # p = 2: implicit t(sbar) from s0
        texpr = symbolic.implicit_time(p)
        g = sp.lambdify((symbolic.s, symbolic.s_star, symbolic.s0, symbolic.eta), texpr, "mpmath")
        closed = []
        for ss, i in zip(targets, init):
            sgrid = np.linspace(i * 1.0001, ss * 0.995, 200)
            closed.append((np.array([float(sp.re(g(x, ss, i, 1.0))) for x in sgrid]), sgrid))
    return {"t": t, "simulation": sim, "closed": closed, "half": halves,
            "targets": np.array(targets)}


def fig2() -> plt.Figure:
    """Fig 2: eq 17 learning curves (top) and losses (bottom) for p = 0, 1/2, 1, 2."""
    fig, axes = plt.subplots(2, 4, figsize=(13, 5.8), sharex="col")
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c"]
    for col, p in enumerate(FIG2_EXPONENTS):
        data = fig2_data(p)
        top, bottom = axes[0, col], axes[1, col]
        for k, ss in enumerate(data["targets"]):
            top.plot(data["t"], data["simulation"][:, k], color=colors[k], lw=2.5, alpha=0.45)
            tc, sc = data["closed"][k]
            top.plot(tc, sc, color=colors[k], lw=1.0, ls="--")
            top.axhline(ss, color=colors[k], lw=0.6, ls=":")
            top.plot(data["half"][k], ss / 2, "o", mfc="none", mec="k", ms=7)
        loss = 0.5 * np.sum((data["simulation"] - data["targets"]) ** 2, axis=1)
        bottom.plot(data["t"], loss, color="k")
        top.set_title(rf"$p = {p:g}$" + {0.0: " (NGD; any d)", 0.5: r" ($\sqrt{\rm NGD}$, d = 2)",
                                          1.0: " (SGD, d = 2)", 2.0: r" (SGD, $d\to\infty$)"}[p])
        bottom.set_xlabel(r"time $t$ ($\bar\eta = 1$)")
        if col == 0:
            top.set_ylabel(r"map strength $\bar\sigma(t)$")
            bottom.set_ylabel(r"loss $\sum \frac{1}{2}(\bar\sigma-\bar\sigma_*)^2$")
    handles = [Line2D([], [], color="0.4", lw=2.5, alpha=0.45, label="simulation (eq 17)"),
               Line2D([], [], color="0.2", lw=1, ls="--", label="closed form"),
               Line2D([], [], color="0.4", lw=0.6, ls=":", label=r"target $\bar\sigma_*$"),
               Line2D([], [], color="k", marker="o", mfc="none", lw=0, label="half-max point")]
    handles += [Line2D([], [], color=c, lw=2, label=rf"$\bar\sigma_* = {s:g}$")
                for c, s in zip(colors, FIG2_TARGETS)]
    fig.legend(handles=handles, loc="lower center", ncol=7, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


# -- teacher-student (Figs 4 and 5) -----------------------------------------------------------
def early_stopping(traj, dt: float) -> tuple[float, float]:
    """Time and value of the minimum test loss."""
    k = int(np.argmin(traj.test_loss))
    return float(traj.t[k] * dt), float(traj.test_loss[k])


def fig4() -> plt.Figure:
    """Fig 4: target singular values, train and test loss, singular-mode dynamics per rule."""
    data = experiments.teacher_student_runs()
    dt = experiments.TEACHER_DT
    s_star = np.linalg.svd(data["task"].target, compute_uv=False)
    fig = plt.figure(figsize=(13, 7))
    grid = fig.add_gridspec(2, 5, height_ratios=[1, 1])
    ax_a = fig.add_subplot(grid[0, 0:1])
    ax_b = fig.add_subplot(grid[0, 1:3])
    ax_c = fig.add_subplot(grid[0, 3:5])
    ax_a.bar(np.arange(1, 17), s_star, color=["k"] * 3 + ["0.6"] * 13)
    ax_a.set_xlabel("mode index")
    ax_a.set_ylabel(r"$\bar\sigma_*$ (train target)")
    ax_a.set_title("(A) target singular values")
    for name, traj in data["runs"].items():
        t = np.maximum(traj.t * dt, dt)
        color, ls = RULE_COLORS[name], "--" if name.endswith("-d") else "-"
        ax_b.loglog(t, traj.loss - data["task"].loss_offset + 1e-16, color=color, ls=ls,
                    label=RULE_LABELS[name])
        ax_c.semilogx(t, traj.test_loss, color=color, ls=ls, label=RULE_LABELS[name])
        ts, ls = early_stopping(traj, dt)
        ax_c.axvline(ts, color=color, ls="--", lw=0.8)
        ax_c.plot(ts, ls, "v", color=color)
    ax_b.set_xlabel("time $t$")
    ax_b.set_ylabel("train loss (above its floor)")
    ax_b.set_title("(B) train loss")
    ax_c.set_xlabel("time $t$")
    ax_c.set_ylabel("test loss")
    ax_c.set_title("(C) test loss; dashed: early stopping")
    ax_b.legend(fontsize=8)
    for k, (name, traj) in enumerate(data["runs"].items()):
        ax = fig.add_subplot(grid[1, k])
        t = np.maximum(traj.t * dt, dt)
        for m in range(16):
            ax.semilogx(t, traj.mode_strengths[:, m], color="k" if m < 3 else "0.65",
                        lw=1.2 if m < 3 else 0.7)
        ax.set_title(f"(D) {RULE_LABELS[name]}")
        ax.set_xlabel("time $t$")
        if k == 0:
            ax.set_ylabel(r"mode strength $u_k^\top W v_k$")
    fig.tight_layout()
    return fig


def fig5() -> plt.Figure:
    """Fig 5: entries of w_2 and w_3 over time and the imbalance ||c_2||_F per rule."""
    data = experiments.teacher_student_runs()
    dt = experiments.TEACHER_DT
    names = list(data["runs"])
    fig, axes = plt.subplots(3, len(names), figsize=(13, 7.5), sharey="row")
    entries = [(0, 0), (1, 2), (3, 1), (5, 4), (7, 7), (9, 3)]
    for k, name in enumerate(names):
        traj = data["runs"][name]
        t = traj.t * dt
        for row, layer in enumerate((1, 2)):
            for (i, j) in entries:
                axes[row, k].plot(t, traj.weights[layer][:, i, j], lw=0.9)
            axes[row, k].set_title(f"{RULE_LABELS[name]}: $w_{layer + 1}$ entries" if row == 0
                                   else f"$w_{layer + 1}$ entries")
        c2 = np.linalg.norm(traj.imbalance[1], axis=(1, 2))
        axes[2, k].semilogy(t, c2, color=RULE_COLORS[name])
        axes[2, k].set_xlabel("time $t$")
    axes[0, 0].set_ylabel("(A) weight value")
    axes[1, 0].set_ylabel("(B) weight value")
    axes[2, 0].set_ylabel(r"(C) $\|c_2\|_F$, $c_2=w_2w_2^\top-w_3^\top w_3$")
    fig.tight_layout()
    return fig


# -- Gauss-Newton norms (Zhang et al., section 4.2) -------------------------------------------
def gn_norm_data(n_nets: int = 120, seed: int = 0) -> dict:
    """GN and K-FAC GN norms of random networks (depth 1-5, widths 2-6), whitened or not."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_nets):
        d = int(rng.integers(1, 6))
        widths = tuple(int(x) for x in rng.integers(2, 7, size=d + 1))
        net = Network.random(widths, scale=float(rng.uniform(0.3, 1.0)),
                             seed=int(rng.integers(2**31)))
        for whitened in (True, False):
            if whitened:
                cov = None
            else:
                a = rng.standard_normal((widths[0], widths[0]))
                cov = a @ a.T / widths[0] + 0.1 * np.eye(widths[0])
            jx = float(np.sum(net.map**2))
            rows.append((whitened, d, d**2 * jx, curvature.gn_norm_sq(net, cov), d * jx,
                         curvature.kfac_gn_norm_sq(net, cov)))
    arr = np.array([r[1:] for r in rows], dtype=float)
    white = np.array([r[0] for r in rows])
    return {"whitened": white, "depth": arr[:, 0], "d2_jx": arr[:, 1], "gn": arr[:, 2],
            "d_jx": arr[:, 3], "kfac": arr[:, 4]}


def fig_gn_norm() -> plt.Figure:
    """GN norm vs d^2 ||J_x||_F^2 and K-FAC GN norm vs d ||J_x||_F^2 (Zhang et al. Thm 1)."""
    data = gn_norm_data()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for ax, x, y, xl, yl in [
        (axes[0], data["d2_jx"], data["gn"], r"$d^2\,\|J_x\|_F^2$",
         r"GN norm $\theta^\top G\,\theta$"),
        (axes[1], data["d_jx"], data["kfac"], r"$d\,\|J_x\|_F^2$",
         r"K-FAC GN norm $\theta^\top G_{\rm K\text{-}FAC}\,\theta$"),
    ]:
        w = data["whitened"]
        ax.loglog(x[~w], y[~w], "x", color="tab:orange", ms=4, label=r"$\Sigma_x \neq I$")
        ax.loglog(x[w], y[w], "o", mfc="none", color="tab:blue", ms=5,
                  label=r"whitened, $\Sigma_x = I$")
        lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8, label="identity (Theorem 1)")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.legend(fontsize=8)
    axes[0].set_title("(A) Gauss-Newton norm, eq 13")
    axes[1].set_title("(B) K-FAC Gauss-Newton norm, eq 14")
    fig.tight_layout()
    return fig


# -- the other curvature rules: covariance noise, K-FAC/TKFAC, HCGD ---------------------------
def fig_other_rules() -> plt.Figure:
    """Wen et al. Fig 4 and stationary losses; K-FAC, TKFAC, HCGD and noisy SGD on the
    teacher-student task."""
    from dlnsim import hcgd, kfac, noise
    from dlnsim.integrate import optimize
    from dlnsim.task import Task

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.3))
    a = np.array([[1.0, 0.9], [0.9, 1.0]])
    g = np.linspace(-1.6, 1.6, 201)
    xx, yy = np.meshgrid(g, g)
    axes[0].contour(xx, yy, 0.5 * (a[0, 0] * xx**2 + 2 * a[0, 1] * xx * yy + a[1, 1] * yy**2),
                    levels=8, colors="0.75", linewidths=0.7)
    colors = {"sqrt_fisher": "tab:red", "sqrt_diag_fisher": "tab:blue"}
    labels = {"sqrt_fisher": r"$C=\sqrt{A}$ (full Fisher)",
              "sqrt_diag_fisher": r"$C=\sqrt{{\rm diag}A}$ (diagonal Fisher)"}
    for kind, color in colors.items():
        c = noise.noise_matrix(kind, a)
        rng = np.random.default_rng(0)
        theta, path = np.array([1.2, -1.0]), []
        for _ in range(500):
            theta = theta - 0.1 * a @ theta + 0.1 * c @ rng.standard_normal(2)
            path.append(theta)
        path = np.array(path)
        axes[0].plot(path[::10, 0], path[::10, 1], ".-", color=color, lw=0.7, ms=3,
                     label=labels[kind])
        losses = noise.run_quadratic(a, c, np.array([1.2, -1.0]), np.full(600, 0.1), runs=2000,
                                     seed=1).mean(axis=1)
        axes[1].plot(losses, color=color, label=labels[kind])
        axes[1].axhline(noise.stationary_loss(a, c, 0.1), color=color, ls="--", lw=0.8)
    axes[0].plot(1.2, -1.0, "o", color="k")
    axes[0].set_xlabel(r"$\theta_1$")
    axes[0].set_ylabel(r"$\theta_2$")
    axes[0].set_title(r"(A) eq 2 on $\frac{1}{2}\theta^\top A\theta$, lr 0.1 (Wen Fig 4)")
    axes[0].legend(fontsize=8, loc="upper right")
    axes[0].set_aspect("equal")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("step $k$")
    axes[1].set_ylabel(r"$\mathbb{E}[L(\theta_k)]$ (2000 runs)")
    axes[1].set_title("(B) same Tr$(C^\\top C)$; dashed: exact stationary loss")
    axes[1].legend(fontsize=8)
    task = Task.teacher_student(n=6, rank=2, noise=0.1, samples=24, seed=0)
    net = Network.random((6, 6, 6, 6), scale=0.3, seed=1)
    runs = {
        "K-FAC (exact GN)": kfac.KFAC(kfac.KFACConfig(lr=0.02, damping=1e-3)),
        "TKFAC (exact GN)": kfac.KFAC(kfac.KFACConfig(lr=0.02, damping=1e-3,
                                                      trace_restricted=True)),
        "HCGD (lam = 1, 2 corr.)": hcgd.HCGD(lr=0.05, inner_lr=0.02, lam=1.0, corrections=2,
                                            momentum=0.9, val_batch=24),
        "minibatch SGD (batch 4)": noise.MinibatchSGD(lr=0.05, batch=4),
        r"SGD + $\sqrt{\rm diag}$ Fisher noise": noise.CovarianceNoiseSGD(
            0.05, "sqrt_diag_fisher", 0.05),
    }
    for label, opt in runs.items():
        traj = optimize(net, task, opt, 300, seed=2, save_every=5)
        axes[2].semilogy(traj.t, traj.loss - task.loss_offset + 1e-16, label=label)
    axes[2].set_xlabel("step")
    axes[2].set_ylabel("train loss (above its floor)")
    axes[2].set_title("(C) teacher-student, d = 3, N = 6")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


FIGURES: dict[str, Callable[[], plt.Figure]] = {
    "fig1": fig1, "fig2": fig2, "fig3": fig3, "fig4": fig4, "fig5": fig5,
    "gn_norm": fig_gn_norm, "other_rules": fig_other_rules,
}


def save(fig: plt.Figure, path: str, dpi: int = 100) -> None:
    """Write a figure atomically (temporary file in the same folder, then rename)."""
    ext = os.path.splitext(path)[1].lstrip(".")
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=ext))
    finally:
        plt.close(fig)


def write_figures(out: str = "figures", only: str | None = None, fmt: str = "png") -> list[str]:
    """Build and save the figures (all, or the one named ``only``); return the paths."""
    if fmt not in ("png", "pdf"):
        raise ValueError(f"format must be 'png' or 'pdf', got {fmt!r}")
    if only is not None and only not in FIGURES:
        raise ValueError(f"--only must be one of {sorted(FIGURES)}, got {only!r}")
    os.makedirs(out, exist_ok=True)
    paths = []
    for name, make in FIGURES.items():
        if only is not None and name != only:
            continue
        path = os.path.join(out, f"{name}.{fmt}")
        save(make(), path)
        paths.append(path)
    return paths
