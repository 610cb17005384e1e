"""K-FAC and TKFAC factors against their definitions."""

import numpy as np
import pytest

from dlnsim import kfac


def _batch(seed=0, n=7, m_in=3, m_out=4):
    rng = np.random.default_rng(seed)
    return kfac.PerExample(rng.uniform(0.2, 2, (n, 1)) * rng.standard_normal((n, m_in)),
                           rng.standard_normal((n, m_out)))


def test_factors_follow_their_definitions():
    f = _batch()
    lam = [np.outer(a, a) for a in f.acts]
    gam = [np.outer(g, g) for g in f.grads]
    assert np.allclose(kfac.exact_block(f), np.mean([np.kron(x, y) for x, y in zip(lam, gam)],
                                                    axis=0))
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


# -- K-FAC / TKFAC optimisers from data ---------------------------------------------------------
from dlnsim import Network, Task, rules  # noqa: E402
from dlnsim.integrate import optimize  # noqa: E402


@pytest.mark.parametrize("trace_restricted", [False, True])
@pytest.mark.parametrize("widths", [(5, 5, 5, 5), (5, 4, 6, 5), (5, 3)])
def test_exact_whitened_limit_is_ngd_d(trace_restricted, widths):
    """Exact GN factors, whitened data, no damping, no averaging: K-FAC = TKFAC = d * NGD-d."""
    task = Task.teacher_student(n=5, n_out=widths[-1], rank=2, noise=0.1, seed=0)
    net = Network.random(widths, scale=0.5, seed=1)
    cfg = kfac.KFACConfig(lr=1.0, damping=0.0, trace_restricted=trace_restricted)
    delta, _ = kfac.kfac_direction_step(net, task, cfg, None, np.random.default_rng(0))
    want = rules.ngd(1.0, block_diagonal=True).velocity(net, task)
    for d, v in zip(delta, want):
        assert np.abs(d / net.depth - v).max() <= 1e-10 * np.abs(v).max()


def test_weight_decay_and_l2_variants_of_algorithm_1():
    task = Task.teacher_student(n=4, rank=2, noise=0.1, seed=2)
    net = Network.random((4, 4, 4), scale=0.5, seed=3)
    rng = np.random.default_rng(0)
    base, _ = kfac.kfac_direction_step(net, task, kfac.KFACConfig(lr=0.1), None, rng)
    wd, _ = kfac.kfac_direction_step(net, task, kfac.KFACConfig(lr=0.1, weight_decay=0.5),
                                     None, rng)
    l2, _ = kfac.kfac_direction_step(net, task, kfac.KFACConfig(lr=0.1, l2=0.5), None, rng)
    for b, w, x in zip(base, wd, net.weights):
        assert np.allclose(w, b - 0.1 * 0.5 * x)  # decay is not preconditioned
    assert any(np.abs(a - b).max() > 1e-3 for a, b in zip(l2, wd))  # L2 is


def test_inverses_refresh_on_their_interval_and_ema_mixes_factors():
    task = Task.teacher_student(n=4, rank=2, noise=0.1, seed=2)
    net = Network.random((4, 4, 4), scale=0.5, seed=3)
    cfg = kfac.KFACConfig(lr=0.05, ema=0.5, inverse_interval=3, curvature="sampled_gn")
    rng = np.random.default_rng(1)
    _, s1 = kfac.kfac_direction_step(net, task, cfg, None, rng)
    _, s2 = kfac.kfac_direction_step(net, task, cfg, s1, rng)
    assert all(a is b for a, b in zip(s1["inverses"], s2["inverses"]))  # step 1: kept
    assert not np.allclose(s1["factors"][0][1], s2["factors"][0][1])   # factors still move


@pytest.mark.parametrize("curvature", kfac.CURVATURES)
def test_runs_are_reproducible_and_learn(curvature):
    task = Task.teacher_student(n=5, rank=2, noise=0.1, seed=0)
    net = Network.random((5, 5, 5, 5), scale=0.5, seed=1)
    cfg = kfac.KFACConfig(lr=0.02, damping=1e-3, curvature=curvature)
    a = optimize(net, task, kfac.KFAC(cfg), 40, seed=5, save_every=20)
    b = optimize(net, task, kfac.KFAC(cfg), 40, seed=5, save_every=20)
    assert a.success and np.array_equal(a.map, b.map)
    assert a.loss[-1] < 0.5 * a.loss[0]
    assert a.t.tolist() == [0, 20, 40]


def test_a_diverging_run_stops_with_status_1():
    task = Task.teacher_student(n=5, rank=2, noise=0.1, seed=0)
    net = Network.random((5, 5, 5, 5), scale=0.5, seed=1)
    traj = optimize(net, task, kfac.KFAC(kfac.KFACConfig(lr=5.0, damping=1e-6)), 100)
    assert traj.status == 1 and "diverged" in traj.message
    assert np.all(np.isfinite(traj.map))


@pytest.mark.parametrize("kwargs,match", [
    (dict(lr=0), "lr"), (dict(ema=1.0), "ema"), (dict(inverse_interval=0), "inverse_interval"),
    (dict(curvature="fisher"), "curvature must be one of"), (dict(damping=-1), "damping"),
])
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kfac.KFACConfig(**kwargs)


def test_exact_limit_without_data_uses_the_input_covariance():
    """A bare Task (no data): the activations must average to W_{<i} S W_{<i}^T."""
    rng = np.random.default_rng(4)
    cov = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])
    task = Task(target=rng.standard_normal((2, 3)), input_cov=cov)
    net = Network.random((3, 4, 2), scale=0.7, seed=5)
    delta, _ = kfac.kfac_direction_step(net, task, kfac.KFACConfig(lr=1.0, damping=0.0), None,
                                        rng)
    want = rules.ngd(1.0, block_diagonal=True).velocity(net, task)
    for d, v in zip(delta, want):
        assert np.abs(d / net.depth - v).max() <= 1e-10 * np.abs(v).max()
