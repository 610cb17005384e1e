"""dlnsim.testing: the strategies give what they promise, the assertions fail loudly with
numbers, and hypothesis is imported only when a strategy is used."""

import math
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import dlnsim.testing as dt
from dlnsim import Network, Task, modes, rules, simulate, symbolic
from dlnsim.rules.fields import NGD

# health checks stay on (the default): a strategy that filters too much or draws too much
# data fails here
SETTINGS = settings(max_examples=40, deadline=None)


def _one(strategy):
    """The simplest example of a strategy (hypothesis.find: deterministic, shrunk)."""
    from hypothesis import find

    return find(strategy, lambda x: True)


def _layer_conditions(net):
    out = []
    for w in net.weights:
        s = np.linalg.svd(w, compute_uv=False)
        s = s[s > 1e-12 * s.max()]
        out.append(s.max() / s.min())
    return out


@SETTINGS
@given(dt.networks(depth=(1, 4), scale=(0.1, 1.0), condition=10.0))
def test_networks_have_bounded_layer_spectra(net):
    assert 1 <= net.depth <= 4 and max(net.widths) <= 5
    for w in net.weights:
        s = np.linalg.svd(w, compute_uv=False)
        assert s.max() <= 1.0 * (1 + 1e-12) and s.min() >= 0.1 / 10 * (1 - 1e-12)
    assert max(_layer_conditions(net)) <= 10 * (1 + 1e-9)


@SETTINGS
@given(dt.networks(depth=(2, 4), balanced=True))
def test_balanced_networks_have_zero_imbalance(net):
    scale = max(float(np.abs(w).max()) for w in net.weights) ** 2
    assert all(np.abs(c).max() <= 1e-12 * max(scale, 1.0) for c in net.imbalance())


@SETTINGS
@given(dt.networks(depth=(2, 4), aligned=True))
def test_aligned_networks_share_singular_vectors_between_layers(net):
    """w_{i+1}^T w_{i+1} and w_i w_i^T commute when consecutive layers share bases."""
    for a, b in zip(net.weights[:-1], net.weights[1:]):
        x, y = a @ a.T, b.T @ b
        assert np.abs(x @ y - y @ x).max() <= 1e-12 * max(1.0, np.abs(x).max() * np.abs(y).max())


def test_unaligned_networks_do_not_commute():
    """The test above can fail: random bases (aligned=False) break the commutation."""
    from hypothesis import find

    strategy = dt.networks(widths=(3, 3, 3), scale=1.0, condition=4.0)
    # equal singular values would commute whatever the bases: ask for unequal ones
    net = find(strategy, lambda n: min(_layer_conditions(n)) > 2)
    a, b = net.weights
    x, y = a @ a.T, b.T @ b
    assert np.abs(x @ y - y @ x).max() > 1e-3


@SETTINGS
@given(dt.networks(scale=1e-3))
def test_near_saddle_networks_are_tiny(net):
    assert max(float(np.abs(w).max()) for w in net.weights) <= 1e-3 * (1 + 1e-12)


@SETTINGS
@given(dt.input_covariances(n=(1, 5), condition=7.0))
def test_input_covariances_are_spd_with_bounded_condition(s):
    e = np.linalg.eigvalsh(s)
    assert np.allclose(s, s.T, atol=1e-15) and e.min() > 0 and e.max() / e.min() <= 7 * (1 + 1e-9)


def test_input_covariances_shrink_to_the_identity():
    from hypothesis import find

    s = find(dt.input_covariances(n=3), lambda s: True)
    assert np.allclose(s, np.eye(3), atol=1e-12)


@SETTINGS
@given(dt.tasks(n_in=3, n_out=2, whitened=False))
def test_tasks_have_the_asked_shape_and_a_non_identity_covariance(task):
    assert task.target.shape == (2, 3) and task.input_cov.shape == (3, 3)


@SETTINGS
@given(dt.networks_and_tasks())
def test_networks_and_tasks_match_in_shape(case):
    net, task = case
    assert task.target.shape == (net.widths[-1], net.widths[0])


@SETTINGS
@given(dt.aligned_networks(modes=(1, 3), depth=(1, 4)))
def test_aligned_networks_carry_their_singular_modes(case):
    """The map of the full network has the modes' products as singular values along the
    target's singular vectors (Huh 2020, footnote 1)."""
    u, s, vt = np.linalg.svd(case.task.target)
    m = case.sigma.shape[0]
    got = np.diag(u.T @ case.network.map @ vt.T)[:m]
    np.testing.assert_allclose(got, np.prod(case.sigma, axis=1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s[:m], case.s_star, rtol=1e-10)


@settings(max_examples=15, deadline=None)
@given(dt.aligned_networks(modes=(1, 2), depth=(1, 3), signed=True), st.sampled_from([1, 2, 3]),
       st.booleans())
def test_aligned_networks_follow_the_mode_ode_under_every_rule(case, q, block):
    # A balanced mode whose map has the wrong sign (e.g. sigma = (0.5, -0.5), s* = 1) starts on
    # the stable manifold of the saddle at 0: the exact run approaches 0 at rate 1/damping and
    # stays, but the escape direction grows like e^{t / damping}, so round-off of order 1e-16
    # (present in the full matrices, absent from the exactly symmetric mode state) decides
    # whether the full run crosses. The two runs need not agree there: a knife edge, skipped.
    sq = case.sigma ** 2
    balanced = np.all(np.abs(np.diff(sq, axis=1)) <= 1e-6 * sq.max(axis=1, keepdims=True),
                      axis=1)
    assume(not np.any(balanced & (np.prod(case.sigma, axis=1) * case.s_star < 0)))
    rule = rules.ngd(q, block_diagonal=block, damping=1e-3)
    t = [0.0, 0.3, 0.6]
    full = simulate(case.network, case.task, rule, t, quiet=True)
    mode = modes.simulate(case.sigma, case.s_star, t, rule=rule)
    u, _, vt = np.linalg.svd(case.task.target)
    m = case.sigma.shape[0]
    got = np.einsum("ij,tjk,kl->til", u.T, full.map, vt.T)
    np.testing.assert_allclose(np.diagonal(got, axis1=1, axis2=2)[:, :m], mode.map,
                               rtol=1e-6, atol=1e-8)


@SETTINGS
@given(dt.mode_strengths(modes=(1, 4), depth=(1, 5), low=0.1, high=1.5, signed=True))
def test_mode_strengths_stay_within_their_bounds(sigma):
    assert 1 <= sigma.shape[0] <= 4 and 1 <= sigma.shape[1] <= 5
    assert np.all(np.abs(sigma) >= 0.1) and np.all(np.abs(sigma) <= 1.5)


def test_signed_mode_strengths_draw_negative_values():
    from hypothesis import find

    sigma = find(dt.mode_strengths(signed=True), lambda s: bool(np.any(s < 0)))
    assert np.any(sigma < 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dt.networks_and_tasks(depth=(1, 3), max_width=4), dt.rules())
def test_drawn_rules_agree_with_the_dense_reference(case, rule):
    """Every drawn chain is a valid rule whose fast field matches the slow dense one."""
    net, task = case
    dt.assert_velocity_matches_dense(net, task, rule, rtol=1e-7, atol=1e-12)


def test_rules_cover_every_kind_and_option():
    seen = set()
    strategy = dt.rules()

    @settings(max_examples=200, deadline=None)
    @given(strategy)
    def collect(rule):
        for t in rule.transforms:
            if isinstance(t, NGD):
                seen.add("ngd-d" if t.block_diagonal else "ngd")
                seen.add(f"q={t.q:g}" if t.q in (1, 2, 3) else "q other")
                seen.add("damped" if t.damping else "undamped")
            else:
                seen.add(t.name.split("(")[0])
        if not any(isinstance(t, NGD) for t in rule.transforms):
            seen.add("gd")

    collect()
    assert seen >= {"gd", "ngd", "ngd-d", "q=1", "q=2", "q=3", "q other", "damped", "undamped",
                    "l2", "clip", "weight_decay"}


@pytest.mark.parametrize("bad, match", [
    (lambda: dt.networks(depth=0), "depth must be >= 1"),
    (lambda: dt.networks(condition=0.5), "condition must be a finite number >= 1"),
    (lambda: dt.networks(scale=(-1, 1)), "scale must be finite"),
    (lambda: dt.rules(kinds=("adam",)), "kinds must be a non-empty subset"),
    (lambda: dt.mode_strengths(low=0), "need 0 < low <= high"),
])
def test_strategies_reject_bad_arguments(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _one(bad())


# -- assertions --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gd_run():
    net = Network.random((3, 4, 2), scale=0.5, seed=0)
    task = Task(np.arange(6.0).reshape(2, 3) / 6, np.diag([1.0, 2.0, 0.5]))
    return simulate(net, task, rules.gd(), np.linspace(0, 2, 5), rtol=1e-12, atol=1e-14,
                    quiet=True)


def _perturbed(traj, layer=0, k=3, by=1e-4):
    from dataclasses import replace

    weights = list(np.array(w) for w in traj.weights)
    weights[layer][k] += by
    return replace(traj, weights=tuple(weights))


def test_assert_conserved_passes_on_gd_and_reports_the_drift(gd_run):
    drift = dt.assert_conserved(gd_run, "imbalance", rtol=1e-9)
    assert 0 <= drift < 1e-9


def test_assert_conserved_fails_loudly_on_a_perturbed_run(gd_run):
    bad = _perturbed(gd_run)
    with pytest.raises(AssertionError, match=r"not conserved: max \|q\(t\) - q\(0\)\| = "
                                             r"[0-9.]+e-0[45] at t = 1\.5 .*allowed"):
        dt.assert_conserved(bad, "imbalance", rtol=1e-9)


def test_assert_conserved_under_weight_decay_fails_and_a_custom_quantity_passes():
    sigma0 = np.array([[0.3, 0.9]])
    lam = 0.1
    run = modes.simulate(sigma0, [1.0], np.linspace(0, 3, 7), q=2, weight_decay=lam)
    with pytest.raises(AssertionError, match="the imbalance c_i is not conserved"):
        dt.assert_conserved(run, rtol=1e-6)
    # the decay law of theory/zhang_weight_decay.md: c(t) e^{2 lam t} is conserved; the
    # quantity sees only the state, so compare with the closed form instead
    c = run.sigma[:, 0, 0] ** 2 - run.sigma[:, 0, 1] ** 2
    np.testing.assert_allclose(c, c[0] * np.exp(-2 * lam * run.t), rtol=1e-8)
    assert dt.assert_matches_closed_form(
        run, lambda t: c[0] * np.exp(-2 * lam * t), rtol=1e-8,
        of=lambda r: r.sigma[:, 0, 0] ** 2 - r.sigma[:, 0, 1] ** 2) < 1e-8


def test_assert_conserved_refuses_an_incomplete_run():
    net = Network.random((2, 2), scale=1.0, seed=0)
    big = Task(1e6 * np.eye(2))
    run = simulate(net, big, rules.gd(), [0.0, 1.0, 50.0], quiet=True,
                   limits=__import__("dlnsim").Limits(max_norm=10.0))
    assert not run.success
    with pytest.raises(AssertionError, match="stopped early .*allow_incomplete=True"):
        dt.assert_conserved(run)


def test_assert_trajectories_close_names_the_layer_and_time(gd_run):
    assert dt.assert_trajectories_close(gd_run, gd_run) == 0.0
    bad = _perturbed(gd_run, layer=1, k=2, by=3e-6)
    with pytest.raises(AssertionError, match=r"max \|a - b\| = 3\.0+e-06 in layer 2 at "
                                             r"t = 1 "):
        dt.assert_trajectories_close(bad, gd_run, rtol=1e-8)
    assert dt.assert_trajectories_close(bad, gd_run, rtol=1e-5) == pytest.approx(3e-6)


def test_assert_trajectories_close_compares_two_integrators_of_the_mode_ode():
    sigma0 = np.array([[0.2, 0.7, 1.1]])
    t = np.linspace(0, 4, 9)
    a = modes.simulate(sigma0, [1.5], t, q=3, solver="DOP853", rtol=1e-12, atol=1e-14)
    b = modes.simulate(sigma0, [1.5], t, q=3, solver="Radau", rtol=1e-10, atol=1e-12)
    assert dt.assert_trajectories_close(a, b, rtol=1e-7) < 1e-7
    c = modes.simulate(sigma0, [1.5], t, q=2)  # another rule: far apart
    with pytest.raises(AssertionError, match="the runs differ"):
        dt.assert_trajectories_close(a, c, rtol=1e-3)


def test_assert_matches_closed_form_with_a_sympy_expression():
    """Depth 1 GD is linear: sbar(t) = s* + (s0 - s*) e^{-t} (p = 0 of eq 17 at etabar = 1)."""
    run = modes.simulate(np.array([[0.2]]), [1.3], np.linspace(0, 3, 7), q=math.inf,
                         rtol=1e-12, atol=1e-14)
    t = symbolic.t
    exact = 1.3 + (0.2 - 1.3) * sp.exp(-t)
    assert dt.assert_matches_closed_form(run, exact, rtol=1e-9) < 1e-9
    with pytest.raises(AssertionError, match="leaves the closed form: max deviation"):
        dt.assert_matches_closed_form(run, 1.3 + (0.2 - 1.3) * sp.exp(-1.01 * t), rtol=1e-6)
    with pytest.raises(ValueError, match="free symbols other than t"):
        dt.assert_matches_closed_form(run, symbolic.s_star + t)


def test_assert_velocity_matches_dense_catches_a_wrong_rule():
    net = Network.random((3, 2, 3), scale=0.8, seed=2)
    task = Task(np.eye(3), np.diag([1.0, 3.0, 0.5]))
    rule = rules.ngd(2, block_diagonal=True)
    assert dt.assert_velocity_matches_dense(net, task, rule, rtol=1e-9) < 1e-9

    class Wrong(rules.Rule):  # q = 2 fast, reported as q = 3 to the dense reference
        def velocity(self, net, task):
            return rules.ngd(2).velocity(net, task)

    wrong = Wrong(rules.ngd(3).transforms)
    with pytest.raises(AssertionError, match=r"ngd\(q=3\): \|\|velocity - dense reference\|\|"):
        dt.assert_velocity_matches_dense(net, task, wrong, rtol=1e-6)


def test_importing_dlnsim_or_its_testing_module_does_not_import_hypothesis():
    code = ("import sys, dlnsim, dlnsim.testing as dt; assert 'hypothesis' not in sys.modules;"
            "dt.assert_conserved; dt.networks; assert 'hypothesis' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_strategies_without_hypothesis_say_how_to_install_it():
    code = ("import sys; sys.modules['hypothesis'] = None\n"
            "import dlnsim.testing as dt\n"
            "try:\n    dt.networks\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert "pip install 'dlnsim[test]'" in out


def test_the_readme_example_of_checking_a_conjecture_runs(tmp_path, monkeypatch):
    """The README's "Checking your own conjecture" example runs as printed and draws a file."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Checking your own conjecture", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1 and len(blocks[0].splitlines()) <= 16
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md", "exec"), {})
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_assertions_fail_on_infinite_values_and_say_which(gd_run):
    """An infinite weight, quantity or closed form would make the allowed error infinite and
    the check pass: each assertion fails instead and names the non-finite side."""
    inf_run = _perturbed(gd_run, layer=0, k=2, by=np.inf)
    with pytest.raises(AssertionError, match=r"layer 1 of a is not finite: .* first at t = 1"):
        dt.assert_trajectories_close(inf_run, gd_run, rtol=1e-8)
    with pytest.raises(AssertionError, match=r"of b \(the reference\) is not finite"):
        dt.assert_trajectories_close(gd_run, inf_run, rtol=1e-8)
    with pytest.raises(AssertionError, match="infinite_quantity at t = 0 is not finite"):
        def infinite_quantity(net):
            return np.full(2, np.inf)
        dt.assert_conserved(gd_run, infinite_quantity, rtol=1e-8)
    with pytest.raises(AssertionError, match="the closed form is not finite"):
        dt.assert_matches_closed_form(gd_run, lambda t: np.where(t > 1, np.inf, 0.0) + 0 * t)
    with pytest.raises(AssertionError, match="the run is not finite: 12 of 60 .* first at t = 1"):
        dt.assert_matches_closed_form(inf_run, lambda t: 0 * t, of=lambda r: r.weights[0])


def test_assert_velocity_matches_dense_fails_when_the_reference_overflows():
    """Damping 1e-320 makes the dense reference's inverse overflow on the Gauss-Newton
    matrix's null space: that is a failure naming the reference, not a pass with an infinite
    allowance."""
    net = Network.random((3, 2, 3), scale=1e-3, seed=0)
    task = Task(1e10 * np.eye(3), np.diag([1.0, 2.0, 3.0]))
    with pytest.raises(AssertionError, match="the dense reference velocity of ngd.* is not "
                                             "finite"):
        dt.assert_velocity_matches_dense(net, task, rules.ngd(1, damping=1e-320), rtol=1e-8)


@settings(max_examples=30, deadline=None)
@given(dt.lambda_balanced_networks())
def test_lambda_balanced_networks_have_c_equal_to_lambda_times_identity(net):
    c = net.imbalance()[0]
    lam = np.trace(c) / c.shape[0]
    scale = max(float(np.abs(w).max()) for w in net.weights) ** 2
    assert np.abs(c - lam * np.eye(c.shape[0])).max() <= 1e-12 * max(scale, 1e-300)
    assert net.depth == 2 and net.widths[1] <= net.widths[0]


@settings(max_examples=15, deadline=None)
@given(dt.lambda_balanced_networks(lam=(-0.3, 0.8)), st.integers(0, 2**16))
def test_the_riccati_solution_follows_gradient_flow_from_any_lambda_balanced_start(net, seed):
    """dlnsim.symbolic.canon.lambda_balanced_depth2 against simulate (GD, rtol 1e-12), any
    widths the strategy draws (n_0 != n_2, bottlenecks, lam of both signs)."""
    from dlnsim import Task, rules, simulate
    from dlnsim.symbolic import canon

    rng = np.random.default_rng(seed)
    target = rng.standard_normal((net.widths[2], net.widths[0]))
    t = np.linspace(0.0, 4.0, 5)
    run = simulate(net, Task(target=target), rules.gd(), t, rtol=1e-12, atol=1e-14,
                   quiet=True)
    maps, _, kernel = canon.lambda_balanced_depth2(*net.weights, target, t)
    np.testing.assert_allclose(run.map, maps, atol=1e-8)
    np.testing.assert_allclose(np.einsum("tij,tkj->tik", run.weights[1], run.weights[1]),
                               kernel, atol=1e-8)
