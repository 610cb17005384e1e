"""K-FAC and TKFAC factors against their definitions."""

import numpy as np
import pytest

from dlnsim.optim import kfac


def _batch(seed=0, n=7, m_in=3, m_out=4):
    rng = np.random.default_rng(seed)
    return kfac.PerExample(rng.uniform(0.2, 2, (n, 1)) * rng.standard_normal((n, m_in)),
                           rng.standard_normal((n, m_out)))


def test_factors_follow_their_definitions():
    f = _batch()
    lam = [np.outer(a, a) for a in f.acts]
    gam = [np.outer(g, g) for g in f.grads]
    # Lambda kron Gamma = (a kron g)(a kron g)^T (mixed products): an independent route to F
    outer = [np.outer(np.kron(a, g), np.kron(a, g)) for a, g in zip(f.acts, f.grads)]
    np.testing.assert_allclose(kfac.exact_block(f), np.mean(outer, axis=0), rtol=1e-12,
                               atol=1e-14)
    a, b = kfac.kfac_factors(f)
    assert np.allclose(a, np.mean(lam, axis=0)) and np.allclose(b, np.mean(gam, axis=0))
    delta, phi, psi = kfac.tkfac_factors(f)
    d = np.mean([np.trace(x) * np.trace(y) for x, y in zip(lam, gam)])
    assert delta == pytest.approx(d)
    assert np.allclose(phi, np.mean([np.trace(y) * x for x, y in zip(lam, gam)], axis=0) / d)
    assert np.allclose(psi, np.mean([np.trace(x) * y for x, y in zip(lam, gam)], axis=0) / d)


def test_tkfac_keeps_the_trace_and_kfac_does_not():
    f = _batch(1)
    exact = np.trace(kfac.exact_block(f))
    delta, phi, psi = kfac.tkfac_factors(f)
    a, b = kfac.kfac_factors(f)
    assert delta * np.trace(phi) * np.trace(psi) == pytest.approx(exact, rel=1e-12)
    assert abs(np.trace(a) * np.trace(b) - exact) > 1e-3 * exact


def test_damped_factors_eq_5_15():
    f = _batch(2)
    delta, phi, psi = kfac.tkfac_factors(f)
    p, s = kfac.damped_tkfac_factors(f, 0.04)
    assert np.allclose(p, np.sqrt(delta) * phi + 0.2 * np.eye(3))
    assert np.allclose(s, np.sqrt(delta) * psi + 0.2 * np.eye(4))


def test_bounds_hold_and_are_positive():
    for seed in range(20):
        f = _batch(seed, n=2 + seed % 6)
        exact = kfac.exact_block(f)
        delta, phi, psi = kfac.tkfac_factors(f)
        a, b = kfac.kfac_factors(f)
        assert np.linalg.norm(exact - delta * np.kron(phi, psi)) <= kfac.tkfac_bound(f)
        assert np.linalg.norm(exact - np.kron(a, b)) <= kfac.kfac_bound(f)


def test_per_example_shapes_are_checked():
    with pytest.raises(ValueError, match="grads must have shape"):
        kfac.PerExample(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="damping"):
        kfac.damped_tkfac_factors(_batch(), -1.0)


# -- K-FAC / TKFAC as rules ----------------------------------------------------------------------
from dlnsim import Limits, Network, Task, curvature, rules, simulate  # noqa: E402


def _steps(net, task, rule, n, lr=1.0):
    """The weights after each of ``n`` discrete steps (``n + 1`` entries, the start first)."""
    traj = simulate(net, task, rule, np.arange(n + 1), lr=lr, method="discrete", quiet=True)
    assert traj.success, traj.message
    return [traj.network(k) for k in range(n + 1)]


def _increments(nets):
    return [[b - a for a, b in zip(n0.weights, n1.weights)] for n0, n1 in zip(nets, nets[1:])]


@pytest.mark.parametrize("make", [rules.kfac, rules.tkfac])
@pytest.mark.parametrize("widths", [(5, 5, 5, 5), (5, 4, 6, 5), (5, 3)])
def test_exact_whitened_limit_is_ngd_d(make, widths):
    """Exact GN factors, whitened data, no damping, no averaging: K-FAC = TKFAC = d * NGD-d."""
    task = Task.teacher_student(n=5, n_out=widths[-1], rank=2, noise=0.1, seed=0)
    net = Network.random(widths, scale=0.5, seed=1)
    (delta,) = _increments(_steps(net, task, make(damping=0.0), 1))
    want = rules.ngd(1.0, block_diagonal=True).velocity(net, task)
    for d, v in zip(delta, want):
        assert np.abs(d / net.depth - v).max() <= 1e-10 * np.abs(v).max()


def test_weight_decay_is_decoupled_and_l2_is_preconditioned_in_a_kfac_chain():
    task = Task.teacher_student(n=4, rank=2, noise=0.1, seed=2)
    net = Network.random((4, 4, 4), scale=0.5, seed=3)
    lr, lam = 0.1, 0.5
    (base,) = _increments(_steps(net, task, rules.kfac(), 1, lr))
    (wd,) = _increments(_steps(net, task, rules.chain(rules.kfac(), rules.weight_decay(lam)),
                                 1, lr))
    (l2,) = _increments(_steps(net, task, rules.chain(rules.l2(lam), rules.kfac()), 1, lr))
    for b, w, x in zip(base, wd, net.weights):
        np.testing.assert_allclose(w, b - lr * lam * x, rtol=1e-12, atol=1e-15)
    assert any(np.abs(a - b).max() > 1e-3 for a, b in zip(l2, wd))  # L2 goes through G^-1 A^-1


def _kfac_reference_step(net, grad_net, task, damping):
    """K-FAC's direction with factored damping from the exact block factors of ``net`` (the
    exact-GN factors on whitened data) applied to the gradient at ``grad_net``."""
    out = []
    grads = curvature.gradient(grad_net, task.target, task.input_cov)
    for (a, g), gw in zip(curvature.block_factors(net, task.input_cov), grads):
        pi = np.sqrt((np.trace(a) / len(a)) / (np.trace(g) / len(g)))
        a_inv = np.linalg.inv(a + pi * np.sqrt(damping) * np.eye(len(a)))
        g_inv = np.linalg.inv(g + np.sqrt(damping) / pi * np.eye(len(g)))
        out.append(g_inv @ gw @ a_inv)
    return out


def test_inverses_refresh_exactly_on_their_interval():
    """inverse_interval = 3: steps 0-2 use the factors of the weights at step 0, steps 3-5
    those at step 3 (never refreshing, or refreshing every step, fails)."""
    task = Task.teacher_student(n=4, rank=2, noise=0.1, seed=2)
    net = Network.random((4, 4, 4), scale=0.5, seed=3)
    lr, damping = 0.05, 1e-2
    nets = _steps(net, task, rules.kfac(damping=damping, inverse_interval=3), 6, lr)
    for n, inc in enumerate(_increments(nets)):
        want = _kfac_reference_step(nets[3 * (n // 3)], nets[n], task, damping)
        stale = _kfac_reference_step(nets[n if n % 3 else max(n - 1, 0)], nets[n], task,
                                     damping)
        for got, w in zip(inc, want):
            np.testing.assert_allclose(got, -lr * w, rtol=1e-9, atol=1e-13)
        if n % 3:  # a refresh every step would have used these instead
            assert max(np.abs(g + lr * s).max() for g, s in zip(inc, stale)) > 1e-8


def test_ema_averages_the_factors_of_successive_steps():
    """ema = 0.5, exact GN: step 1 uses 0.5 * factors(w_0) + 0.5 * factors(w_1)."""
    task = Task.teacher_student(n=4, rank=2, noise=0.1, seed=2)
    net = Network.random((4, 4, 4), scale=0.5, seed=3)
    lr, damping = 0.05, 1e-2
    nets = _steps(net, task, rules.kfac(damping=damping, ema=0.5), 2, lr)
    inc = _increments(nets)[1]
    grads = curvature.gradient(nets[1], task.target)
    for i, (got, gw) in enumerate(zip(inc, grads)):
        a0, g0 = curvature.block_factors(nets[0])[i]
        a1, g1 = curvature.block_factors(nets[1])[i]
        a, g = 0.5 * (a0 + a1), 0.5 * (g0 + g1)
        pi = np.sqrt((np.trace(a) / len(a)) / (np.trace(g) / len(g)))
        want = (np.linalg.inv(g + np.sqrt(damping) / pi * np.eye(len(g))) @ gw
                @ np.linalg.inv(a + pi * np.sqrt(damping) * np.eye(len(a))))
        np.testing.assert_allclose(got, -lr * want, rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("curvature_kind", kfac.CURVATURES)
def test_runs_are_reproducible_and_learn(curvature_kind):
    task = Task.teacher_student(n=5, rank=2, noise=0.1, seed=0)
    net = Network.random((5, 5, 5, 5), scale=0.5, seed=1)
    rule = rules.kfac(damping=1e-3, curvature=curvature_kind, seed=5)
    a = simulate(net, task, rule, [0, 20, 40], lr=0.02, method="discrete", quiet=True)
    b = simulate(net, task, rule, [0, 20, 40], lr=0.02, method="discrete", quiet=True)
    assert a.success and np.array_equal(a.map, b.map)
    assert a.loss[-1] < 0.5 * a.loss[0]
    if curvature_kind == "sampled_gn":  # another seed, other draws
        c = simulate(net, task, rules.kfac(damping=1e-3, curvature=curvature_kind, seed=6),
                     [0, 20, 40], lr=0.02, method="discrete", quiet=True)
        assert not np.array_equal(a.map, c.map)


def test_a_diverging_run_stops_with_status_1():
    task = Task.teacher_student(n=5, rank=2, noise=0.1, seed=0)
    net = Network.random((5, 5, 5, 5), scale=0.5, seed=1)
    traj = simulate(net, task, rules.kfac(damping=1e-6), np.arange(101), lr=5.0,
                    method="discrete", quiet=True, limits=Limits(max_norm=1e8))
    assert traj.status == 1 and "diverged" in traj.message
    assert np.all(np.isfinite(traj.map))


def test_kfac_refuses_continuous_time_and_singular_modes():
    task = Task.teacher_student(n=3, rank=1, seed=0)
    net = Network.random((3, 3, 3), seed=0)
    with pytest.raises(ValueError, match="discrete-time optimiser"):
        simulate(net, task, rules.kfac(), [0.0, 1.0])
    with pytest.raises(TypeError, match="method='discrete'"):
        rules.kfac().velocity(net, task)
    from dlnsim import modes
    with pytest.raises(ValueError, match="no singular-mode form"):
        modes.simulate(np.ones((1, 2)), [1.0], [0, 1], rule=rules.kfac(), method="discrete")


@pytest.mark.parametrize("kwargs,match", [
    (dict(ema=1.0), "ema"), (dict(inverse_interval=0), "inverse_interval"),
    (dict(curvature="fisher"), "curvature must be one of"), (dict(damping=-1), "damping"),
    (dict(seed=-1), "seed"), (dict(seed=1.5), "seed"),
])
def test_bad_kfac_arguments_name_the_argument(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        rules.kfac(**kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        rules.tkfac(**kwargs)


def test_exact_limit_without_data_uses_the_input_covariance():
    """A bare Task (no data): the activations must average to W_{<i} S W_{<i}^T."""
    rng = np.random.default_rng(4)
    cov = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])
    task = Task(target=rng.standard_normal((2, 3)), input_cov=cov)
    net = Network.random((3, 4, 2), scale=0.7, seed=5)
    (delta,) = _increments(_steps(net, task, rules.kfac(damping=0.0), 1))
    want = rules.ngd(1.0, block_diagonal=True).velocity(net, task)
    for d, v in zip(delta, want):
        assert np.abs(d / net.depth - v).max() <= 1e-10 * np.abs(v).max()


def test_the_bounds_of_theorem_4_4_by_hand():
    """Two examples: tr L = (1, 4), tr G = (9, 1). TKFAC: 2 (1/2) sqrt(1 4 9 1) = 6;
    K-FAC: 2 (1/2) (1 + 4)(9 + 1) / 4 = 12.5."""
    f = kfac.PerExample(np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[3.0], [1.0]]))
    assert kfac.tkfac_bound(f) == pytest.approx(6.0, rel=1e-14)
    assert kfac.kfac_bound(f) == pytest.approx(12.5, rel=1e-14)
