"""Phase portraits of any rule (plots.phase_portrait, plots.planes, dlnsim portrait): the field
drawn is the rule's, written out here from the paper's equations; the level sets drawn are
conserved by the runs drawn; the fixed points are where the field vanishes."""

import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.quiver import Quiver  # noqa: E402

from dlnsim import plots, rules  # noqa: E402
from dlnsim.cli import main  # noqa: E402
from dlnsim.plots.planes import conservation_law  # noqa: E402


def eq12(sigma, s_star, q, block=False, decay=0.0):
    """Huh 2020 eqs 12 and 20-21 for one mode (rows of sigma), plus decay: by hand."""
    sigma = np.atleast_2d(sigma)
    d = sigma.shape[1]
    j = np.stack([np.prod(np.delete(sigma, i, axis=1), axis=1) for i in range(d)], axis=1)
    sd = np.prod(sigma, axis=1, keepdims=True) - s_star
    if math.isinf(q):
        pre = 1.0
    elif block:
        pre = d ** (-1 / q) * (j**2) ** (-1 / q)
    else:
        pre = np.sum(j**2, axis=1, keepdims=True) ** (-1 / q)
    return -sd * j * pre - decay * sigma


CASES = [  # rule, depth, q, block, decay
    (rules.gd(), 2, math.inf, False, 0.0),
    (rules.ngd(2), 3, 2.0, False, 0.0),
    (rules.ngd(3, block_diagonal=True), 3, 3.0, True, 0.0),
    (rules.chain(rules.ngd(1.5), rules.weight_decay(0.05)), 4, 1.5, False, 0.05),
]


@pytest.mark.parametrize("rule, depth, q, block, decay", CASES)
def test_the_layer_plane_field_is_eq12_with_the_other_layers_held(rule, depth, q, block, decay):
    start = (0.3, 1.2) + (0.9,) * (depth - 2)
    pp = plots.phase_portrait(rule, depth=depth, start=start, t_end=1.0, target=1.3)
    held = np.array(start, dtype=float)
    states = np.repeat(held[None], len(pp.points), axis=0)
    states[:, :2] = pp.points
    want = eq12(states, 1.3, q, block, decay)[:, :2]
    np.testing.assert_allclose(pp.velocity, want, rtol=1e-12, atol=1e-14)
    # the arrows drawn point along the field (normalised and capped, same direction)
    quiver = next(c for c in pp.ax.collections if isinstance(c, Quiver))
    np.testing.assert_allclose(quiver.get_offsets(), pp.points)
    uv = np.stack([quiver.U, quiver.V], axis=1)
    cos = np.sum(uv * want, axis=1) / (np.linalg.norm(uv, axis=1) * np.linalg.norm(want, axis=1))
    assert np.all(cos > 1 - 1e-12)
    plt.close(pp.ax.figure)


@pytest.mark.parametrize("depth, q", [(2, 2.0), (3, 3.0), (4, math.inf)])
def test_the_mode_plane_field_is_the_balanced_map_ode_eq17(depth, q):
    """dsbar/dt = -etabar (sbar - s*) sbar^p, p = 2(d-1)(q-1)/(dq), etabar = d^{1-1/q}."""
    s_star = np.array([1.5, 0.5])
    pp = plots.phase_portrait(rules.ngd(q) if not math.isinf(q) else rules.gd(), depth=depth,
                              modes=(0, 1), target=s_star, t_end=2.0)
    p = 2 * (depth - 1) * (1 - 1 / q) / depth
    eta = depth ** (1 - 1 / q)
    x = pp.points
    want = -eta * (x - s_star) * np.abs(x) ** p
    pos = np.all(x > 0, axis=1)  # eq 17 is stated for sbar > 0
    np.testing.assert_allclose(pp.velocity[pos], want[pos], rtol=1e-10, atol=1e-13)
    # the run from near the saddle reaches the optimum star
    end = pp.plane.project(pp.trajectory.sigma[-1])
    assert np.all(np.abs(end - s_star) < np.abs(0.02 * s_star - s_star))
    plt.close(pp.ax.figure)


@pytest.mark.parametrize("rule, depth", [
    (rules.gd(), 3), (rules.ngd(1), 3), (rules.ngd(2, damping=0.1), 3),
    (rules.ngd(1, block_diagonal=True), 3), (rules.ngd(2, block_diagonal=True), 4),
    (rules.ngd(3, block_diagonal=True), 3), (rules.chain(rules.ngd(2), rules.clip(0.3)), 3)])
def test_the_level_sets_drawn_are_conserved_by_the_runs_at_any_depth(rule, depth):
    start = (0.4, 0.9) + (0.7,) * (depth - 2)
    pp = plots.phase_portrait(rule, depth=depth, start=start, t_end=3.0)
    assert pp.law.fn is not None and pp.trajectory.success
    path = pp.trajectory.sigma[:, 0, :2]
    c = pp.law.fn(path[:, 0], path[:, 1])
    assert np.abs(c - c[0]).max() <= 1e-8 * max(1.0, abs(c[0]))
    # and the quantity of the *other* family is not conserved (the check can fail)
    other = conservation_law(rules.ngd(2, block_diagonal=True) if not pp.law.label.startswith(
        "$|") else rules.gd())
    oc = other.fn(path[:, 0], path[:, 1])
    assert np.abs(oc - oc[0]).max() > 1e-4
    reds = [c for c in pp.ax.collections if hasattr(c, "levels")
            and np.allclose(matplotlib.colors.to_rgba_array(c.get_edgecolor())[0],
                            matplotlib.colors.to_rgba("tab:red"))]
    assert reds
    plt.close(pp.ax.figure)


@pytest.mark.parametrize("rule, note", [
    (rules.chain(rules.ngd(2), rules.weight_decay(0.1)), "weight decay breaks eq 15"),
    (rules.chain(rules.l2(0.1), rules.ngd(2)), "L2 breaks eq 15"),
    (rules.ngd(1, block_diagonal=True, damping=0.01), "no closed-form constant"),
])
def test_without_a_closed_form_the_plot_says_why(rule, note):
    pp = plots.phase_portrait(rule, t_end=1.0)
    assert pp.law.fn is None and note in pp.law.note
    texts = " ".join(t.get_text().replace("\n", " ") for t in pp.ax.texts)
    assert note in texts
    plt.close(pp.ax.figure)


def test_fixed_points_of_gd_with_weight_decay_are_where_the_field_vanishes():
    """sigma_1 = sigma_2 = +-sqrt(s* - lam) and the origin (d = 2, Zhang et al. eq 7)."""
    lam, s_star = 0.2, 1.0
    pp = plots.phase_portrait(rules.chain(rules.gd(), rules.weight_decay(lam)), t_end=1.0)
    r = math.sqrt(s_star - lam)
    want = np.array([[0.0, 0.0], [r, r], [-r, -r]])
    got = pp.fixed_points[np.lexsort(pp.fixed_points.T[::-1])]
    np.testing.assert_allclose(got, want[np.lexsort(want.T[::-1])], atol=1e-9)
    assert np.abs(eq12(got, s_star, math.inf, decay=lam)).max() < 1e-9
    plt.close(pp.ax.figure)


def test_fixed_points_on_the_mode_plane_are_the_products_of_each_modes_zeros():
    lam = 0.1
    rule = rules.chain(rules.ngd(2), rules.weight_decay(lam))
    pp = plots.phase_portrait(rule, depth=2, modes=(0, 1), target=(1.5, 0.5), t_end=1.0)
    # balanced mode: sigma_dot = -sd sigma / |j| - lam sigma with |j| = sqrt(2) sigma, so
    # sbar = s* - sqrt(2) lam sbar^(1/2)... solve sd + sqrt(2) lam sigma = 0 for sigma > 0
    roots = []
    for s in (1.5, 0.5):
        sig = (-math.sqrt(2) * lam + math.sqrt(2 * lam**2 + 4 * s)) / 2
        roots.append([0.0, sig**2])
    want = np.array([(x, y) for x in roots[0] for y in roots[1]])
    got = pp.fixed_points
    assert len(got) == 4
    for w in want:
        assert np.min(np.abs(got - w).max(axis=1)) < 1e-9
    plt.close(pp.ax.figure)


def test_trajectories_from_several_starts_with_equal_time_markers():
    pp = plots.phase_portrait(2.0, starts=[(0.45, 0.15), (1.5, -0.3)], t_end=3.0, markers=6)
    assert len(pp.trajectories) == 2
    dots = [ln for ln in pp.ax.get_lines() if ln.get_marker() == "o" and ln.get_linestyle()
            == "None" and ln.get_markersize() == 3]
    assert len(dots) == 2 and all(len(d.get_xdata()) == 7 for d in dots)  # t = 0, 0.5, .., 3
    plt.close(pp.ax.figure)


@pytest.mark.parametrize("kw, match", [
    ({"depth": 1}, "depth must be >= 2 for a plane of two layers"),
    ({"depth": 3, "layers": (0, 3)}, "layers must be two different indices >= 0 below 3"),
    ({"modes": (0, 2), "target": (1.0, 2.0)}, "modes must be two different indices"),
    ({"target": 0.0}, "target must be nonzero"),
    ({"rule": rules.kfac()}, "has no velocity field"),
    ({"rule": rules.gd(), "q": 2.0}, "either rule or q"),
    ({"start": (1.0, 2.0, 3.0)}, r"start\[0\] must have 2 or depth = 2 entries"),
    ({"lim": -1.0}, "lim"),
])
def test_portrait_rejects_bad_input_naming_the_argument(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        plots.phase_portrait(**kw)


# -- dlnsim portrait ---------------------------------------------------------------------
def test_cli_portrait_writes_a_png_whose_field_is_the_rules(tmp_path, capsys):
    out, data = tmp_path / "p.png", tmp_path / "p.json"
    rc = main(["portrait", "--q", "3", "--depth", "3", "--weight-decay", "1e-3",
               "--out", str(out), "--data", str(data)])
    assert rc == 0 and "wrote" in capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = plt.imread(str(out))
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 300
    d = json.loads(data.read_text())
    assert d["plane"] == "layers" and d["rule"] == "ngd(q=3) -> weight_decay(0.001)"
    held = np.array(d["held"][0])
    pts = np.array(d["points"])
    states = np.repeat(held[None], len(pts), axis=0)
    states[:, :2] = pts
    want = eq12(states, 1.0, 3.0, decay=1e-3)[:, :2]
    np.testing.assert_allclose(np.array(d["velocity"]), want, rtol=1e-12, atol=1e-14)
    assert d["conserved"] is None and "weight decay" in d["note"]


def test_cli_portrait_of_two_modes_with_streamlines(tmp_path, capsys):
    out = tmp_path / "modes.pdf"
    rc = main(["portrait", "--modes", "0,1", "--target", "1.5,0.5", "--depth", "3",
               "--block-diagonal", "--streamlines", "--start", "0.02,0.02",
               "--start", "1.8,0.1", "--out", str(out), "--quiet"])
    assert rc == 0 and capsys.readouterr().out == ""
    assert out.read_bytes()[:4] == b"%PDF"


@pytest.mark.parametrize("argv, match", [
    (["--out", "p.txt"], "--out must end in .png, .pdf or .svg"),
    (["--modes", "0,0"], "--modes: must be two different mode indices"),
    (["--target", "1,2"], "--target must be one number on a plane of layers"),
    (["--depth", "1"], "--depth must be >= 2"),
    (["--start", "1,x"], "--start: must be comma-separated finite numbers"),
    (["--out", "/nonexistent-dir/p.png"], "--out"),
])
def test_cli_portrait_bad_input_is_one_line_and_exit_2(argv, match, capsys, tmp_path,
                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["portrait"] + argv)
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and match in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_portrait_whose_trajectories_all_stop_at_once_exits_1_and_says_why(tmp_path, capsys):
    """Its only trajectory starts where the velocity overflows: the image is written, but the
    command says which trajectory stopped, when and why, and exits 1; with a second, healthy
    trajectory it exits 0 and still names the one that stopped."""
    from dlnsim.cli import main

    out = str(tmp_path / "p.png")
    assert main(["portrait", "--start", "1e100,1e100", "--out", out, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "trajectory 1 (from 1e+100, 1e+100) stopped at t = 0 of 12" in err
    assert "the strengths are too large" in err
    assert main(["portrait", "--start", "1e100,1e100", "--start", "0.5,0.3", "--out", out,
                 "--quiet"]) == 0
    assert "trajectory 1 (from 1e+100" in capsys.readouterr().err
