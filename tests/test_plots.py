"""Figures: what each one plots, not only that a file appears."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dlnsim import experiments, modes, plots, rules, symbolic  # noqa: E402
from dlnsim.cli import main  # noqa: E402


@pytest.mark.parametrize("q,block", [(math.inf, False), (2.0, False), (1.0, False),
                                     (1.0, True), (2.0, True), (3.0, True)])
def test_portrait_trajectory_keeps_its_conserved_quantity(q, block):
    pp = plots.phase_portrait(q=q, block_diagonal=block, start=(0.45, 0.15), t_end=3.0)
    path = pp.trajectory.sigma[:, 0, :]
    c = pp.conserved(path[:, 0], path[:, 1])
    assert np.abs(c - c[0]).max() <= 1e-9 * max(1.0, abs(c[0]))
    assert pp.trajectory.success
    # the trajectory drawn is the one returned, and it approaches the optimal hyperbola
    drawn = [ln for ln in pp.ax.get_lines() if ln.get_color() == "tab:blue"][0]
    assert np.allclose(drawn.get_xydata(), path)
    assert abs(path[-1].prod() - 1.0) < abs(path[0].prod() - 1.0)
    assert pp.ax.get_xlabel() == r"$\sigma_1$" and pp.ax.get_ylabel() == r"$\sigma_2$"
    plt.close(pp.ax.figure)


def test_portrait_with_weight_decay_has_no_conserved_path_and_shrinks_imbalance():
    lam = 0.2
    pp = plots.phase_portrait(q=2.0, weight_decay=lam, start=(0.45, 0.15), t_end=3.0)
    assert pp.conserved is None
    s = pp.trajectory.sigma[:, 0, :]
    c = s[:, 0] ** 2 - s[:, 1] ** 2
    assert np.allclose(c, c[0] * np.exp(-2 * lam * pp.trajectory.t), rtol=1e-8)
    plt.close(pp.ax.figure)


def test_portrait_draws_the_optimal_hyperbola_in_black():
    pp = plots.phase_portrait(q=1.0)
    black = [c for c in pp.ax.collections
             if hasattr(c, "levels") and list(c.levels) == [0.0]]
    assert black, "no contour at sigma_Delta = 0"
    assert np.allclose(matplotlib.colors.to_rgba_array(black[0].get_edgecolor())[0],
                       [0, 0, 0, 1])
    plt.close(pp.ax.figure)


@pytest.mark.parametrize("p", plots.FIG2_EXPONENTS)
def test_fig2_half_max_points_sit_at_closed_form_times(p):
    data = plots.fig2_data(p)
    for k, ss in enumerate(data["targets"]):
        init = ss / 100 if p >= 1 else None
        assert data["half"][k] == symbolic.half_max_time_exponent(p, ss, 1.0, init=init)
        # eq 17 integrated from the figure's start reaches s*/2 at the marker's time (for p < 1
        # the start 1e-12 s* instead of 0 shifts it by ~(1e-12)^{1-p} relative)
        seed = init if init else 1e-12 * ss
        run = modes.simulate_map_exponent([seed], [ss], [0.0, data["half"][k]], p=p,
                                          atol=1e-30)
        assert run.map[-1, 0] == pytest.approx(ss / 2, rel=1e-5)
        sim = data["simulation"][:, k]
        # and the closed form agrees with the simulation
        tc, sc = data["closed"][k]
        if p < 2:
            assert np.abs(sc - sim).max() <= 1e-6 * ss
        else:  # implicit t(s): integrate eq 17 to exactly those times
            run = modes.simulate_map_exponent([ss / 100], [ss], np.concatenate([[0.0], tc]),
                                              p=2.0)
            assert np.abs(run.map[1:, 0] - sc).max() <= 1e-6 * ss


def test_fig2_markers_are_drawn_at_the_half_max_points():
    fig = plots.fig2()
    for col, p in enumerate(plots.FIG2_EXPONENTS):
        ax = fig.axes[col]
        marks = sorted((ln.get_xdata()[0], ln.get_ydata()[0]) for ln in ax.get_lines()
                       if ln.get_marker() == "o")
        want = sorted((symbolic.half_max_time_exponent(p, ss, 1.0,
                                                       init=ss / 100 if p >= 1 else None),
                       ss / 2) for ss in plots.FIG2_TARGETS)
        assert np.allclose(marks, want)
    plt.close(fig)


def test_fig4_early_stopping_markers_are_at_the_test_loss_minimum():
    fig = plots.fig4()
    ax_c = fig.axes[2]
    xs = sorted(ln.get_xdata()[0] for ln in ax_c.get_lines()
                if list(ln.get_ydata()) == [0, 1])  # axvline: axes-fraction y from 0 to 1
    data = experiments.teacher_student_runs()
    # the minimum of each run's test loss, found here without plots.early_stopping
    want = sorted(float(tr.t[np.argmin(tr.test_loss)]) * experiments.TEACHER_DT
                  for tr in data["runs"].values())
    assert np.allclose(xs, want)
    marks = sorted((ln.get_xdata()[0], ln.get_ydata()[0]) for ln in ax_c.get_lines()
                   if ln.get_marker() == "v")
    assert np.allclose([m[1] for m in marks],
                       [min(tr.test_loss) for tr in sorted(
                           data["runs"].values(),
                           key=lambda tr: float(tr.t[np.argmin(tr.test_loss)]))])
    assert ax_c.get_ylabel() == "test loss"
    plt.close(fig)


def test_gn_norm_figure_data_whitened_on_identity_not_otherwise():
    data = plots.gn_norm_data(n_nets=30)
    w = data["whitened"]
    assert np.allclose(data["gn"][w], data["d2_jx"][w], rtol=1e-10)
    assert np.allclose(data["kfac"][w], data["d_jx"][w], rtol=1e-10)
    off = np.abs(data["gn"][~w] / data["d2_jx"][~w] - 1)
    assert np.median(off) > 1e-2


def test_cli_figures_writes_requested_format(tmp_path, capsys):
    assert main(["figures", "--out", str(tmp_path), "--only", "fig3", "--format", "pdf"]) == 0
    out = tmp_path / "fig3.pdf"
    assert out.read_bytes()[:4] == b"%PDF"
    assert [p.name for p in tmp_path.iterdir()] == ["fig3.pdf"]
    assert main(["figures", "--only", "fig9"]) == 2
    assert "fig9" in capsys.readouterr().err


def test_modes_used_by_portraits_match_direct_integration():
    """The drawn trajectory against scipy integrating eq 12 (q = 2, d = 2) written out here:
    dsigma_1/dt = -(s1 s2 - 1) s2 / |j|, dsigma_2/dt = -(s1 s2 - 1) s1 / |j|."""
    from scipy.integrate import solve_ivp

    pp = plots.phase_portrait(q=2.0, start=(0.3, 0.2), t_end=2.0)

    def eq12(t, s):
        sd, nj = s[0] * s[1] - 1.0, np.hypot(s[0], s[1])
        return [-sd * s[1] / nj, -sd * s[0] / nj]

    ref = solve_ivp(eq12, (0, 2.0), [0.3, 0.2], t_eval=pp.trajectory.t, rtol=1e-12,
                    atol=1e-14, method="DOP853")
    np.testing.assert_allclose(pp.trajectory.sigma[:, 0, :], ref.y.T, rtol=1e-8, atol=1e-10)
    plt.close(pp.ax.figure)


def test_other_rules_figure_marks_the_exact_stationary_losses():
    from dlnsim import quadratic as noise

    fig = plots.fig_other_rules()
    ax_b, ax_c = fig.axes[1], fig.axes[2]
    a = np.array([[1.0, 0.9], [0.9, 1.0]])
    levels = sorted(ln.get_ydata()[0] for ln in ax_b.get_lines() if ln.get_linestyle() == "--")
    want = sorted(noise.stationary_loss(a, noise.noise_matrix(k, a), 0.1)
                  for k in ("sqrt_fisher", "sqrt_diag_fisher"))
    assert np.allclose(levels, want)
    for ln in ax_c.get_lines():  # every optimiser learns the teacher-student task
        y = ln.get_ydata()
        assert y[-1] < 0.01 * y[0]
    plt.close(fig)


def test_importing_plots_chooses_no_backend_and_builds_figures_without_pyplot():
    """Figures are plain Figure objects: importing dlnsim.plots and drawing one must neither
    import pyplot nor select a backend (which would break inline figures in notebooks)."""
    import subprocess
    import sys

    code = ("import sys, matplotlib; before = matplotlib.rcParams._get_backend_or_none(); "
            "import dlnsim.plots as p; f = p.fig3(); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'; "
            "assert matplotlib.rcParams._get_backend_or_none() == before; "
            "assert type(f).__name__ == 'Figure' and len(f.axes) == 2; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_cli_figures_without_only_writes_every_figure(tmp_path, capsys):
    """All figures, fig1 included, as real PNG files of a readable size."""
    assert main(["figures", "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(f"{n}.png" for n in plots.FIGURES)
    for p in tmp_path.iterdir():
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert capsys.readouterr().out.count("wrote ") == len(plots.FIGURES)


def test_depth2_wide_figure_data_equals_the_dense_kernels_runs_at_a_small_width():
    """The width-256 figure runs through the exact depth-2 path; at n = 12 the same data
    equals runs through the dense map-space kernel (which cannot run at 256)."""
    from dataclasses import replace

    from dlnsim import simulate
    from dlnsim.plots.data import depth2_wide_data
    from dlnsim.rules.fields import NGD

    data = depth2_wide_data(n=12, steps=20)
    net = data["runs"]["NGD"].network(0)
    for name, run in data["runs"].items():
        assert run.success
        if name == "SGD":
            continue
        (t,) = [t for t in data["rules"][name].transforms if isinstance(t, NGD)]
        dense = simulate(net, data["task"], rules.Rule((replace(t, path="dense"),)), run.t,
                         lr=data["lr"], method="discrete", quiet=True)
        for a, b in zip(run.weights, dense.weights):
            assert np.abs(a - b).max() <= 1e-10 * np.abs(b).max()



def test_a_run_and_an_ensemble_plot_themselves_in_one_call():
    """Trajectory.plot(): loss, mode strengths, imbalance drift, every axis labelled, the
    curves the run's own numbers; Ensemble.plot(): one loss curve per member."""
    import numpy as np

    from dlnsim import Network, Task, rules, simulate, simulate_ensemble

    task = Task.teacher_student(n=3, rank=2)
    traj = simulate(Network.random((3, 3, 3, 3), scale=0.3, seed=0), task, rules.ngd(2),
                    np.linspace(0, 2, 5), quiet=True)
    fig = traj.plot()
    axes = fig.axes
    assert len(axes) == 3 and all(ax.get_xlabel() and ax.get_ylabel() for ax in axes)
    np.testing.assert_array_equal(axes[0].lines[0].get_ydata(), traj.loss)
    assert len(axes[1].lines) == traj.mode_strengths.shape[1]
    assert len(axes[2].lines) == len(traj.imbalance)
    nets = [Network.random((3, 3, 3), scale=0.3, seed=s) for s in range(3)]
    ens = simulate_ensemble(nets, task, rules.gd(), np.linspace(0, 2, 5), quiet=True)
    fig = ens.plot()
    assert len(fig.axes[0].lines) == 3 and fig.axes[0].get_ylabel()
    np.testing.assert_array_equal(fig.axes[0].lines[2].get_ydata(), ens.loss[2])
