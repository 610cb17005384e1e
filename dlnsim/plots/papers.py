"""The papers' figures: map learning curves (Fig 2), teacher-student (Figs 4, 5), Gauss-Newton
norms (Zhang et al. Thm 1) and the other curvature rules (Wen et al. Fig 4, K-FAC, TKFAC, HCGD)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from dlnsim import experiments
from dlnsim.plots.data import (
    FIG2_EXPONENTS,
    FIG2_TARGETS,
    depth2_wide_data,
    early_stopping,
    fig2_data,
    gn_norm_data,
    lazy_rich_data,
    other_rules_data,
)
from dlnsim.plots.style import RULE_COLORS, RULE_LABELS, subplots


def fig2() -> Figure:
    """Fig 2: eq 17 learning curves (top) and losses (bottom) for p = 0, 1/2, 1, 2.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = subplots(2, 4, figsize=(13, 5.8), sharex="col")
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



def fig4() -> Figure:
    """Fig 4: target singular values, train and test loss, singular-mode dynamics per rule.

    Returns
    -------
    matplotlib.figure.Figure
    """
    data = experiments.teacher_student_runs()
    dt = experiments.TEACHER_DT
    s_star = np.linalg.svd(data["task"].target, compute_uv=False)
    fig = Figure(figsize=(13, 7))
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


def fig5() -> Figure:
    """Fig 5: entries of w_2 and w_3 over time and the imbalance ||c_2||_F per rule.

    Returns
    -------
    matplotlib.figure.Figure
    """
    data = experiments.teacher_student_runs()
    dt = experiments.TEACHER_DT
    names = list(data["runs"])
    fig, axes = subplots(3, len(names), figsize=(13, 7.5), sharey="row")
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


def fig_gn_norm() -> Figure:
    """GN norm vs d^2 ||J_x||_F^2 and K-FAC GN norm vs d ||J_x||_F^2 (Zhang et al. Thm 1).

    Returns
    -------
    matplotlib.figure.Figure
    """
    data = gn_norm_data()
    fig, axes = subplots(1, 2, figsize=(9, 4.2))
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
def fig_other_rules() -> Figure:
    """Wen et al. Fig 4 and stationary losses; K-FAC, TKFAC, HCGD and noisy SGD on the
    teacher-student task.

    Returns
    -------
    matplotlib.figure.Figure
    """
    data = other_rules_data()
    fig, axes = subplots(1, 3, figsize=(14, 4.3))
    g = np.linspace(-1.6, 1.6, 201)
    xx, yy = np.meshgrid(g, g)
    a = data["a"]
    axes[0].contour(xx, yy, 0.5 * (a[0, 0] * xx**2 + 2 * a[0, 1] * xx * yy + a[1, 1] * yy**2),
                    levels=8, colors="0.75", linewidths=0.7)
    colors = {"sqrt_fisher": "tab:red", "sqrt_diag_fisher": "tab:blue"}
    labels = {"sqrt_fisher": r"$C=\sqrt{A}$ (full Fisher)",
              "sqrt_diag_fisher": r"$C=\sqrt{{\rm diag}A}$ (diagonal Fisher)"}
    for kind, color in colors.items():
        path = data["paths"][kind]
        axes[0].plot(path[::10, 0], path[::10, 1], ".-", color=color, lw=0.7, ms=3,
                     label=labels[kind])
        axes[1].plot(data["mean_loss"][kind], color=color, label=labels[kind])
        axes[1].axhline(data["stationary"][kind], color=color, ls="--", lw=0.8)
    axes[0].plot(*data["theta0"], "o", color="k")
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
    for label, traj in data["runs"].items():
        axes[2].semilogy(traj.t, traj.loss - data["task"].loss_offset + 1e-16, label=label)
    axes[2].set_xlabel("step")
    axes[2].set_ylabel("train loss (above its floor)")
    axes[2].set_title("(C) teacher-student, d = 3, N = 6")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig_depth2_wide() -> Figure:
    """Teacher-student at depth 2, width 256: train and test loss and the learning of the
    teacher's modes under SGD, sqrt-NGD and NGD, computed through the exact depth-2 path.

    Returns
    -------
    matplotlib.figure.Figure
    """
    data = depth2_wide_data()
    lr, n = data["lr"], data["n"]
    fig, (ax_a, ax_b, ax_c) = subplots(1, 3, figsize=(13, 3.9))
    for name, traj in data["runs"].items():
        t = traj.t * lr
        color = RULE_COLORS[name]
        ax_a.semilogy(t, traj.loss - data["task"].loss_offset + 1e-16, color=color,
                      label=RULE_LABELS[name])
        ax_b.semilogy(t, traj.test_loss, color=color, label=RULE_LABELS[name])
    for name, ls in (("SGD", ":"), ("sqrt-NGD", "-")):
        traj = data["runs"][name]
        for k in range(8):
            ax_c.plot(traj.t * lr, traj.mode_strengths[:, k], color=RULE_COLORS[name], ls=ls,
                      lw=1.0)
    for s in data["s_star"]:
        ax_c.axhline(s, color="0.7", lw=0.5)
    ax_a.set_xlabel("time $t$ (steps x lr)")
    ax_a.set_ylabel("train loss (above its floor)")
    ax_a.set_title(f"(A) train loss, $n_0 = n_1 = n_2 = {n}$")
    ax_a.legend(fontsize=8)
    ax_b.set_xlabel("time $t$ (steps x lr)")
    ax_b.set_ylabel("test loss")
    ax_b.set_title("(B) test loss (noisy teacher)")
    ax_c.set_xlabel("time $t$ (steps x lr)")
    ax_c.set_ylabel(r"mode strength $u_k^\top W v_k$")
    ax_c.set_title(r"(C) 8 teacher modes: SGD dotted, $\sqrt{\rm NGD}$ solid")
    fig.tight_layout()
    return fig


def phase_diagram(ds=None) -> Figure:
    """Half-max learning time over a sweep's (depth, q) grid: measured on full-matrix runs,
    the closed form of eq 17 (``symbolic.half_max_time``) and their ratio, as heat maps.
    ``ds``: a sweep Dataset (:func:`dlnsim.sweep.load`); default the built-in grid
    (``experiments.PHASE_DIAGRAM_SPEC``).

    Parameters
    ----------
    ds : xarray.Dataset, optional
        A sweep over at least two depths and two q. From aligned starts (ODE runs) the closed
        form is drawn beside the measurement; otherwise the measured half-loss time alone.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        A sweep with fewer than two depths or two q.
    """
    data = experiments.phase_diagram(experiments.phase_diagram_sweep() if ds is None else ds)
    qs = [r"$\infty$ (GD)" if np.isinf(q) else f"{q:g}" for q in data["q"]]
    if data["closed"] is None:
        return _measured_phase_diagram(data, qs)
    fig, axes = subplots(1, 3, figsize=(13, 3.9))
    panels = (("measured", r"(A) measured $t_{1/2}$ (full-matrix runs)", "viridis"),
              ("closed", r"(B) closed form $t_{1/2}$ (eq 17)", "viridis"),
              ("ratio", "(C) measured / closed", "coolwarm"))
    top = np.nanmax([np.nanmax(data["measured"]), np.nanmax(data["closed"])])
    for ax, (key, title, cmap) in zip(axes, panels):
        values = data[key]
        if key == "ratio":
            dev = max(float(np.nanmax(np.abs(values - 1))), 1e-12)
            im = ax.imshow(values, cmap=cmap, vmin=1 - dev, vmax=1 + dev, aspect="auto")
            fmt = "{:.5f}"
        else:
            im = ax.imshow(values, cmap=cmap, vmin=0, vmax=top, aspect="auto")
            fmt = "{:.3f}"
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center",
                        fontsize=7 if key == "ratio" else 8,
                        color="w" if key != "ratio" and values[i, j] < 0.6 * top else "k")
        ax.set_xticks(range(len(qs)), qs)
        ax.set_yticks(range(len(data["depth"])), [str(int(d)) for d in data["depth"]])
        ax.set_xlabel("curvature order $q$")
        ax.set_ylabel("depth $d$")
        ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax, label="time $t$" if key != "ratio" else "ratio")
    fig.suptitle(rf"half-max time of $\bar\sigma$ from $\bar\sigma_0 = {data['init']:g}$ to "
                 rf"$\bar\sigma_*/2$, $\bar\sigma_* = {data['s_star']:g}$, lr $= {data['lr']:g}$",
                 fontsize=10)
    fig.tight_layout()
    return fig


def _measured_phase_diagram(data: dict, qs: list) -> Figure:
    """The half-loss time of a sweep without a closed form (random starts, discrete steps)."""
    values = data["measured"]
    fig, ax = subplots(1, 1, figsize=(5.5, 3.9))
    top = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    im = ax.imshow(values, cmap="viridis", vmin=0, vmax=top, aspect="auto")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            ax.text(j, i, f"{values[i, j]:.3f}", ha="center", va="center", fontsize=8,
                    color="w" if values[i, j] < 0.6 * top else "k")
    ax.set_xticks(range(len(qs)), qs)
    ax.set_yticks(range(len(data["depth"])), [str(int(d)) for d in data["depth"]])
    ax.set_xlabel("curvature order $q$")
    ax.set_ylabel("depth $d$")
    ax.set_title("time for the train loss to halve (mean over seeds)\nno closed form: the "
                 "start is not aligned and balanced", fontsize=9)
    fig.colorbar(im, ax=ax, label=f"time $t$ (lr $= {data['lr']:g}$)")
    fig.tight_layout()
    return fig


# -- beyond the papers: lazy and rich learning at depth 2 ------------------------------------
def fig_lazy_rich() -> Figure:
    """Depth-2 learning curves and the hidden representation's kernel alignment with the
    task over lambda, from rich (lambda = 0, small start) to lazy (large lambda), simulated
    (lines) and by the matrix Riccati solution (markers; claim canon.riccati).

    Returns
    -------
    matplotlib.figure.Figure
    """
    data = lazy_rich_data()
    fig, axes = subplots(1, 2, figsize=(10, 4.2))
    colors = ("tab:purple", "tab:blue", "tab:green", "tab:orange")
    for lam, color in zip(data["lams"], colors):
        r = data[lam]
        axes[0].semilogy(data["t"], r["loss"], "-", color=color, lw=1.4,
                         label=rf"$\lambda = {lam:g}$")
        axes[0].semilogy(data["t_closed"], r["loss_closed"], "o", mfc="none", color=color,
                         ms=5)
        axes[1].plot(data["t"], r["align"], "-", color=color, lw=1.4,
                     label=rf"$\lambda = {lam:g}$")
        axes[1].plot(data["t_closed"], r["align_closed"], "o", mfc="none", color=color, ms=5)
    handles = [Line2D([], [], color="k", lw=1.4, label="simulation (gradient flow)"),
               Line2D([], [], color="k", marker="o", mfc="none", ls="",
                      label="Riccati closed form")]
    axes[0].set_xlabel(r"time $t$ ($\eta = 1$)")
    axes[0].set_ylabel(r"loss $\frac{1}{2}\|W - W^*\|_F^2$")
    axes[0].set_ylim(bottom=1e-12)
    axes[0].set_title(r"(A) learning curves, $c_1 = w_1 w_1^\top - w_2^\top w_2 = \lambda I$",
                      fontsize=10)
    axes[0].legend(handles=axes[0].get_legend_handles_labels()[0] + handles, fontsize=8)
    axes[1].set_xlabel(r"time $t$ ($\eta = 1$)")
    axes[1].set_ylabel(r"alignment $\cos(w_1^\top w_1,\ W^{*\top} W^*)$")
    axes[1].set_title("(B) hidden kernel alignment: rich (small $\\lambda$) to lazy",
                      fontsize=10)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig
