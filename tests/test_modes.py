"""Singular-mode dynamics: the paper's equations, their conserved quantities, eq 17."""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dlnsim import curvature, modes, rules

positive_sigma = st.integers(1, 5).flatmap(
    lambda d: arrays(np.float64, (3, d), elements=st.floats(0.05, 3.0)))
# both signs: the block rules' j_i |j_i|^{-2/q} must keep the sign of j_i
signed_sigma = st.integers(1, 5).flatmap(
    lambda d: arrays(np.float64, (3, d),
                     elements=st.floats(0.05, 3.0) | st.floats(-3.0, -0.05)))
QS = [1.0, 1.5, 2.0, 3.0, math.inf]


@settings(max_examples=50, deadline=None)
@given(positive_sigma)
def test_jacobian_is_product_of_the_other_layers(sigma):
    j = modes.jacobian(sigma)
    assert np.allclose(j, np.prod(sigma, axis=1, keepdims=True) / sigma, rtol=1e-12)


def test_zero_jacobian_gives_zero_velocity():
    sigma = np.zeros((2, 3))
    for q in QS:
        for block in (False, True):
            v = modes.velocity(sigma, np.array([1.0, 2.0]), q=q, block_diagonal=block)
            assert np.array_equal(v, np.zeros_like(sigma))
    # one zero layer: j_i = 0 except for that layer
    v = modes.velocity(np.array([[0.0, 1.0, 2.0]]), np.array([1.0]), q=1, block_diagonal=True)
    assert np.all(np.isfinite(v)) and v[0, 1] == 0 and v[0, 2] == 0 and v[0, 0] != 0


@pytest.mark.parametrize("q", QS)
@settings(max_examples=25, deadline=None)
@given(sigma=signed_sigma)
def test_velocity_matches_the_papers_equations(sigma, q):
    s_star = np.array([0.5, 2.0, -1.0])
    d = sigma.shape[1]
    sbar = sigma.prod(axis=1)
    sd = (sbar - s_star)[:, None]
    j = sbar[:, None] / sigma
    nj2 = np.sum(j * j, axis=1, keepdims=True)
    full = modes.velocity(sigma, s_star, q=q)
    block = modes.velocity(sigma, s_star, q=q, block_diagonal=True)
    if math.isinf(q):
        assert np.allclose(full, -sd * j, rtol=1e-12)  # eq 5
        assert np.allclose(block, -sd * j, rtol=1e-12)
    else:
        assert np.allclose(full, -sd * j / nj2 ** (1 / q), rtol=1e-12)  # eq 12
        # eqs 19-21 for any q: -d^{-1/q} sd j_i |j_i|^{-2/q}, with the sign of j_i
        want = -d ** (-1 / q) * sd * np.sign(j) * np.abs(j) ** (1 - 2 / q)
        assert np.allclose(block, want, rtol=1e-12)
    if q == 1:
        assert np.allclose(block, -sd / (d * j), rtol=1e-12)  # eq 20
    if q == 2:
        assert np.allclose(block, -sd * np.sign(j) / np.sqrt(d), rtol=1e-12)  # eq 21
        # eq 14: ||sigma dot|| = |sd| for sqrt-NGD
        assert np.allclose(np.linalg.norm(full, axis=1), np.abs(sd[:, 0]), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(sigma=signed_sigma)
def test_ngdd_speed_exceeds_ngd_speed_by_jensen(sigma):
    s_star = np.array([0.5, 2.0, -1.0])
    full = np.linalg.norm(modes.velocity(sigma, s_star, q=1), axis=1)
    block = np.linalg.norm(modes.velocity(sigma, s_star, q=1, block_diagonal=True), axis=1)
    assert np.all(block >= full * (1 - 1e-12))


def _conserved(kind, sigma, q):
    s = np.abs(sigma)
    if kind == "hyperbolic":
        return s[..., :-1] ** 2 - s[..., 1:] ** 2
    if kind == "ratio":
        return s[..., :-1] / s[..., 1:]
    return s[..., :-1] ** (2 * (1 - 1 / q)) - s[..., 1:] ** (2 * (1 - 1 / q))  # footnote 4


@pytest.mark.parametrize("q,block,kind", [
    (math.inf, False, "hyperbolic"), (1.0, False, "hyperbolic"), (2.0, False, "hyperbolic"),
    (3.0, False, "hyperbolic"), (1.0, True, "ratio"), (2.0, True, "power"),
    (3.0, True, "power"), (1.5, True, "power"),
])
def test_singular_mode_paths_conserve_their_quantity(q, block, kind):
    rng = np.random.default_rng(0)
    sigma0 = 0.2 + rng.random((4, 3))
    s_star = np.array([2.0, 1.0, 0.5, 3.0])
    run = modes.simulate(sigma0, s_star, t=np.linspace(0, 10, 6), q=q, block_diagonal=block)
    assert run.success, run.message
    c = _conserved(kind, run.sigma, q)
    assert np.abs(c - c[0]).max() <= 1e-9 * np.abs(c[0]).max()
    assert np.abs(run.map[-1] - s_star).max() < 1e-2  # and it learns


@pytest.mark.parametrize("d", [1, 2, 3, 5])
@pytest.mark.parametrize("q", QS)
def test_balanced_modes_follow_the_map_ode(d, q):
    """Eq 17: balanced singular modes obey dsbar/dt = -etabar (sbar - s*) sbar^p."""
    s_star = np.array([3.0, 1.0, 0.3])
    sbar0 = np.array([0.05, 0.02, 0.01])
    sigma0 = np.repeat(sbar0[:, None] ** (1 / d), d, axis=1)
    t = np.linspace(0, 6, 7)
    lr = 0.7
    run = modes.simulate(sigma0, s_star, t=t, q=q, lr=lr)
    ref = modes.simulate_map(sbar0, s_star, t=t, d=d, q=q, lr=lr)
    assert run.success and ref.success
    assert np.abs(run.map - ref.map).max() <= 1e-8


def test_map_ode_linear_case_matches_closed_form():
    """p = 0 (q = 1): sbar(t) = s* (1 - exp(-etabar t)) from zero."""
    t = np.linspace(0, 4, 9)
    ref = modes.simulate_map(np.zeros(2), np.array([1.0, 5.0]), t=t, d=3, q=1.0, lr=0.5)
    etabar = modes.calibrated_rate(0.5, 3, 1.0)
    assert etabar == pytest.approx(0.5)
    want = np.array([1.0, 5.0]) * (1 - np.exp(-etabar * t))[:, None]
    assert np.abs(ref.map - want).max() <= 1e-10


def test_exponent_and_rate_reproduce_table1_entries():
    assert modes.exponent(1, 2.0) == 0
    assert modes.exponent(2, 1.0) == 0
    assert modes.exponent(2, 2.0) == pytest.approx(0.5)
    assert modes.exponent(2, math.inf) == pytest.approx(1.0)
    assert modes.exponent(10**6, 2.0) == pytest.approx(1.0, abs=1e-5)
    assert modes.exponent(10**6, math.inf) == pytest.approx(2.0, abs=1e-5)
    assert modes.calibrated_rate(1.0, 4, 2.0) == pytest.approx(2.0)
    assert modes.calibrated_rate(1.0, 4, math.inf) == pytest.approx(4.0)


def test_discrete_mode_steps_and_weight_decay():
    sigma0 = np.array([[0.5, 0.5]])
    run = modes.simulate(sigma0, [1.0], t=[0, 1, 2], q=2, lr=0.1, method="discrete",
                         weight_decay=0.2)
    s = sigma0.copy()
    for _ in range(2):
        s = s + 0.1 * modes.velocity(s, np.array([1.0]), q=2, weight_decay=0.2)
    assert np.array_equal(run.sigma[-1], s)
    assert np.asarray(run).shape == (3, 1, 2)


def test_clipped_mode_speed_is_bounded():
    v = modes.velocity(np.full((3, 2), 1e-3), np.array([1.0, 2.0, 3.0]), q=1, max_speed=0.5)
    assert np.linalg.norm(v) == pytest.approx(0.5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(sigma0=np.ones(3)), "sigma0 must be a 2-D array"),
    (dict(target=[1.0, 2.0, 3.0]), r"target must have shape \(2,\)"),
    (dict(q=0.5), "q must be >= 1"),
    (dict(lr=0), "lr must be"),
    (dict(weight_decay=-1), "weight_decay"),
    (dict(t=[1.0, 0.0]), "strictly increasing"),
    (dict(method="rk4"), "method must be"),
])
def test_modes_simulate_rejects_bad_input(kwargs, match):
    args = dict(sigma0=np.ones((2, 3)), target=[1.0, 2.0], t=[0.0, 1.0]) | kwargs
    with pytest.raises((ValueError, TypeError), match=match):
        modes.simulate(**args)


def test_a_bad_depth_is_one_error_everywhere():
    """A wrong type is a TypeError, a wrong value a ValueError, with the same words in modes
    and curvature (one validation vocabulary)."""
    with pytest.raises(ValueError, match="d must be a positive integer, got 0"):
        modes.exponent(0, 2.0)
    for call in (lambda: modes.exponent(2.0, 2), lambda: curvature.balanced_svd(np.eye(2), 2.0)):
        with pytest.raises(TypeError, match="d must be a positive integer, got float 2.0"):
            call()


@pytest.mark.parametrize("damping", [0.0, 0.05])
@pytest.mark.parametrize("block", [False, True])
@pytest.mark.parametrize("q", [1.0, 2.0, 3.0])
def test_singular_mode_rules_with_l2_and_damping_equal_the_dense_full_matrix_velocity(
        q, block, damping):
    """On an aligned network the mode field of l2 -> damped q-NGD(-d) (the projection form:
    the L2 term is not in the range of J^T) equals the full-matrix velocity from the dense
    Gauss-Newton reference, embedded through Network.aligned (linear in the strengths)."""
    from dlnsim import Network, Task, rules
    from dlnsim.testing import dense_velocity

    rng = np.random.default_rng(3)
    u, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    v, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    s_star = np.array([2.0, 1.0, 0.5])
    target = (u * s_star) @ v.T
    sigma = 0.3 + rng.random((3, 3))
    net = Network.aligned(target, sigma, widths=(3, 3, 3, 3), seed=4)
    rule = rules.chain(rules.l2(0.3), rules.ngd(q, damping=damping, block_diagonal=block))
    vel = modes.velocity(sigma, s_star, rule=rule)
    embedded = Network.aligned(target, vel, widths=(3, 3, 3, 3), seed=4).weights
    for a, b in zip(embedded, dense_velocity(net, Task(target), rule)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_map_level_velocities_follow_their_equations():
    """eq 17 written out, and the end-to-end field of a balanced network against the dense
    full-matrix velocity's map change J(v)."""
    from dlnsim import Network, Task, curvature, rules

    sbar, s_star = np.array([0.3, 1.5]), np.array([1.0, 1.0])
    for d, q in [(3, 2.0), (2, math.inf), (4, 1.0)]:
        p, eta = modes.exponent(d, q), modes.calibrated_rate(0.7, d, q)
        np.testing.assert_allclose(modes.map_velocity(sbar, s_star, d, q, lr=0.7),
                                   -eta * (sbar - s_star) * sbar**p, rtol=1e-14)
    rng = np.random.default_rng(1)
    net = Network.aligned(rng.standard_normal((3, 3)), [1.2, 0.7, 0.4], widths=(3, 3, 3, 3))
    task = Task(target=rng.standard_normal((3, 3)))
    for q in (1.0, 2.0, math.inf):
        want = curvature.jvp(net, rules.ngd(q).velocity(net, task))
        got = modes.end_to_end_velocity(net.map, task.target, 3, q)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("q", [1.0, 2.0, math.inf])
def test_end_to_end_keeps_the_rank_of_a_bottleneck_and_follows_the_network(q):
    """A map that factors through width 2 keeps rank 2 under the end-to-end ODE given
    ``rank=2``, and follows the full network (dense path); the rank is validated first."""
    from dlnsim import Network, Task, rules, simulate

    rng = np.random.default_rng(5)
    net = Network.aligned(rng.standard_normal((3, 4)), [0.9, 0.4], widths=(4, 2, 3), seed=3)
    task = Task(target=net.map + 0.3 * rng.standard_normal((3, 4)))
    t = np.linspace(0.0, 2.0, 3)
    e2e = modes.simulate_end_to_end(net.map, task.target, t, 2, q, lr=0.7, rank=2)
    full = simulate(net, task, rules.ngd(q, path="dense"), t, lr=0.7, quiet=True)
    assert e2e.status == 0, e2e.message
    np.testing.assert_allclose(e2e.sigma, full.map, atol=1e-8)
    assert np.linalg.svd(e2e.sigma[-1], compute_uv=False)[2] < 1e-12
    # and the map moved: the check is not of a frozen run
    assert np.abs(full.map[-1] - full.map[0]).max() > 0.1
    with pytest.raises(TypeError, match="rank"):
        modes.simulate_end_to_end(net.map, task.target, t, 2, q, rank=2.0)
    with pytest.raises(ValueError, match="rank"):
        modes.simulate_end_to_end(net.map, task.target, t, 2, q, rank=0)


def test_documented_defaults_of_the_mode_functions():
    """modes.simulate defaults to sqrt-NGD (q = 2) and mode_rule() to undamped sqrt-NGD."""
    sigma0 = np.array([[0.3, 0.6]])
    a = modes.simulate(sigma0, [1.0], [0.0, 1.0])
    b = modes.simulate(sigma0, [1.0], [0.0, 1.0], q=2.0)
    np.testing.assert_array_equal(a.sigma, b.sigma)
    assert modes.mode_rule().name == "ngd(q=2)" == rules.preset().name


@pytest.mark.parametrize("block", [False, True])
def test_sqrt_ngd_moves_at_unit_speed_from_strengths_whose_jacobian_squared_underflows(block):
    """Depth 20 at strengths 1e-12: ||j||^2 ~ 1e-456 underflows, but the q = 2 velocity
    ``r j / ||j||`` (full) or ``r d^{-1/2} sign(j_i)`` (blocks) is r / sqrt(20) in every layer
    (all j_i equal): computed scaled, not 0 (which left the run at 1e-240 with status 0)."""
    sigma = np.full((1, 20), 1e-12)
    v = modes.velocity(sigma, [1.0], q=2, block_diagonal=block)
    np.testing.assert_allclose(v, np.full((1, 20), 1.0 / np.sqrt(20)), rtol=1e-14)
    run = modes.simulate(sigma, [1.0], np.linspace(0, 10, 3), q=2, block_diagonal=block)
    assert run.status == 0 and abs(run.map[-1, 0] - 1.0) < 1e-3


def test_ngd_from_a_tiny_but_representable_start_learns_like_the_map_ode():
    """Depth 2, q = 1.5, strengths 1e-100 (map 1e-200): the field is steep at t = 0, and a
    trial step overshoots into overflow; rejecting such trials (not stopping as diverged)
    lets the run follow the map ODE of eq 17 from the same start."""
    t = np.linspace(0, 10, 6)
    with pytest.raises(ValueError, match=r"sigma0's mode 0 is only 1e-100 in size, below "
                                         r"atol = 1e-12.*atol=1e-102"):
        modes.simulate([[1e-100, 1e-100]], [1.0], t, q=1.5)  # the solver cannot see it
    run = modes.simulate([[1e-100, 1e-100]], [1.0], t, q=1.5, atol=1e-110)
    assert run.status == 0, run.message
    ref = modes.simulate_map([1e-200], [1.0], t, d=2, q=1.5, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(run.map[:, 0], ref.map[:, 0], rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("sigma0, q, what", [
    ([[1e-12] * 20], 1.0, "singular-mode velocity .* is beyond what float64"),
    ([[1e-100] * 5], 1.0, "Jacobian j_i = prod_.* underflows float64"),
])
def test_unrepresentable_tiny_starts_stop_with_status_minus_1_and_say_why(sigma0, q, what):
    """Where the velocity (1e226) or the Jacobian (1e-400) is beyond float64, the run stops at
    t = 0 with status -1 and says so, instead of status 0 with nothing learned."""
    run = modes.simulate(sigma0, [1.0], np.linspace(0, 10, 11), q=q, atol=1e-300)
    assert run.status == -1 and re.search(what, run.message), run.message
    assert "simulate_map" in run.message


@pytest.mark.parametrize("kw", [{"q": 1.0}, {"block_diagonal": True}, {"damping": 1e-3},
                                {"weight_decay": 0.1}, {"max_speed": 2.0}])
def test_a_rule_and_a_rule_keyword_together_are_refused_not_silently_ignored(kw):
    with pytest.raises(ValueError, match=f"rule=ngd\\(q=2\\) names the whole rule; "
                                         f"{next(iter(kw))} would be ignored"):
        modes.simulate([[0.3, 0.5]], [1.0], [0.0, 1.0], rule=rules.ngd(2.0), **kw)
    with pytest.raises(ValueError, match="names the whole rule"):
        modes.velocity([[0.3, 0.5]], [1.0], rule=rules.ngd(2.0), **kw)


@pytest.mark.parametrize("make", [lambda: rules.kfac(), lambda: rules.minibatch_sgd(),
                                  lambda: rules.hcgd(), lambda: rules.noisy_sgd("isotropic")],
                         ids=["kfac", "minibatch", "hcgd", "noisy_sgd"])
def test_a_rule_without_a_mode_form_is_refused_by_name(make):
    """The rule's own check runs before any work: a clear ValueError naming the rule, not an
    AttributeError from deep inside the field."""
    rule = make()
    with pytest.raises(ValueError, match="no singular-mode form"):
        modes.simulate([[0.3, 0.4]], [1.0], [0, 1], rule=rule, method="discrete")


def test_map_and_end_to_end_runs_default_to_unit_learning_rate():
    """Called without lr, both follow the q = 1 closed forms at lr = 1: eq 17 at p = 0
    (etabar = lr d^0) and W(t) = W* + e^{-t} (W0 - W*) for a full-rank map."""
    t = np.linspace(0.0, 3.0, 4)
    run = modes.simulate_map(0.2, 1.3, t, 2, 1.0)
    np.testing.assert_allclose(run.map[:, 0], 1.3 + (0.2 - 1.3) * np.exp(-t), atol=1e-9)
    run = modes.simulate_map_exponent(0.2, 1.3, t, 0.0)  # etabar defaults to 1 too
    np.testing.assert_allclose(run.map[:, 0], 1.3 + (0.2 - 1.3) * np.exp(-t), atol=1e-9)
    rng = np.random.default_rng(2)
    w0, target = rng.standard_normal((3, 3)) + 3 * np.eye(3), rng.standard_normal((3, 3))
    e2e = modes.simulate_end_to_end(w0, target, t, 3, 1.0)
    want = target + np.exp(-t)[:, None, None] * (w0 - target)
    assert e2e.status == 0
    np.testing.assert_allclose(e2e.sigma, want, atol=1e-8)


def test_mode_runs_are_quiet_by_default_and_simulate_is_not(monkeypatch):
    """The mode-level integrators show no progress bar unless asked (quiet=True); a
    full-matrix simulate shows one (quiet=False)."""
    from dlnsim import Network, Task, simulate
    from dlnsim.solve import loop

    seen = []
    real = loop.tqdm
    monkeypatch.setattr(loop, "tqdm", lambda *a, **k: seen.append(k.get("disable")) or real(
        *a, **{**k, "disable": True}))
    t = [0.0, 0.5]
    modes.simulate([[0.3, 0.4]], [1.0], t)
    modes.simulate_map(0.2, 1.0, t, 2, 2.0)
    modes.simulate_map_exponent(0.2, 1.0, t, 0.5)
    modes.simulate_end_to_end(np.eye(2), 2 * np.eye(2), t, 2, 2.0)
    assert seen == [True] * 4
    simulate(Network.random((2, 2, 2), seed=0), Task(np.eye(2)), rules.gd(), t)
    assert seen[-1] is None  # tqdm's own choice: a bar on a terminal
