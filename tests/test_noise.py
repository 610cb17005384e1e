"""Covariance-noise SGD on the convex quadratic."""

import numpy as np
import pytest

from dlnsim import noise


def _a():
    return np.array([[2.0, 0.7, 0.1], [0.7, 1.0, 0.3], [0.1, 0.3, 0.5]])


def test_fisher_noises_share_their_second_moment_but_not_tr_cac():
    a = _a()
    full = noise.noise_matrix("sqrt_fisher", a)
    diag = noise.noise_matrix("sqrt_diag_fisher", a)
    iso = noise.noise_matrix("isotropic", a)
    for c in (full, diag, iso):
        assert np.trace(c.T @ c) == pytest.approx(np.trace(a))
    assert np.trace(full.T @ a @ full) == pytest.approx(np.sum(a * a))  # ||A||_F^2
    assert np.trace(diag.T @ a @ diag) == pytest.approx(np.sum(np.diag(a) ** 2))
    assert np.allclose(full @ full, a)


def test_runs_are_reproducible_bit_for_bit_and_noise_free_runs_are_gd():
    a = _a()
    alphas, gamma = noise.theorem41_schedule(a, 50)
    assert alphas[0] <= 1 / np.linalg.eigvalsh(a).max() + 1e-15
    theta0 = np.array([1.0, -2.0, 0.5])
    c = noise.noise_matrix("sqrt_fisher", a)
    r1 = noise.run_quadratic(a, c, theta0, alphas, runs=7, seed=3)
    r2 = noise.run_quadratic(a, c, theta0, alphas, runs=7, seed=3)
    assert np.array_equal(r1, r2)
    assert not np.array_equal(r1, noise.run_quadratic(a, c, theta0, alphas, runs=7, seed=4))
    gd = noise.run_quadratic(a, np.zeros((3, 3)), theta0, alphas, runs=2, seed=0)
    theta = theta0.copy()
    for alpha in alphas:
        theta = theta - alpha * a @ theta
    assert gd[-1, 0] == pytest.approx(0.5 * theta @ a @ theta, rel=1e-12)


def test_bad_noise_kind_and_shapes():
    with pytest.raises(ValueError, match="kind must be one of"):
        noise.noise_matrix("fisher", _a())
    with pytest.raises(ValueError, match="theta0"):
        noise.run_quadratic(_a(), np.eye(3), np.ones(2), np.ones(3))


def test_stationary_loss_matches_the_scalar_closed_form():
    a, c, alpha = 2.0, 0.7, 0.3
    sigma = alpha**2 * c**2 / (1 - (1 - alpha * a) ** 2)
    got = noise.stationary_loss(np.array([[a]]), np.array([[c]]), alpha)
    assert got == pytest.approx(0.5 * a * sigma, rel=1e-12)
    with pytest.raises(ValueError, match="alpha must be below"):
        noise.stationary_loss(np.array([[a]]), np.array([[c]]), 1.0)


def test_noisy_and_minibatch_sgd_are_reproducible_and_match_their_means():
    from dlnsim import Network, Task, curvature
    from dlnsim.integrate import optimize

    task = Task.teacher_student(n=4, rank=2, noise=0.1, samples=16, seed=0)
    net = Network.random((4, 4, 4), scale=0.5, seed=1)
    for opt in (noise.CovarianceNoiseSGD(0.05, "sqrt_fisher", 0.1),
                noise.CovarianceNoiseSGD(0.05, "sqrt_diag_fisher", 0.1),
                noise.MinibatchSGD(0.05, batch=4)):
        a = optimize(net, task, opt, 30, seed=2, save_every=10)
        b = optimize(net, task, opt, 30, seed=2, save_every=10)
        assert a.success and np.array_equal(a.map, b.map)
        assert not np.array_equal(a.map, optimize(net, task, opt, 30, seed=3, save_every=10).map)
    # without noise, eq 2 is gradient descent; a full minibatch is the full-data gradient
    rng = np.random.default_rng(0)
    g = curvature.gradient(net, task.target, task.input_cov)
    d0, _ = noise.CovarianceNoiseSGD(0.05, "none").step(net, task, None, rng)
    dfull, _ = noise.MinibatchSGD(0.05, batch=16).step(net, task, None, rng)
    for x, y, gi in zip(d0, dfull, g):
        assert np.allclose(x, -0.05 * gi) and np.allclose(y, -0.05 * gi)


def test_minibatch_sgd_needs_data():
    from dlnsim import Network, Task

    with pytest.raises(ValueError, match="needs a task with data"):
        noise.MinibatchSGD(0.1).init(Network.random((2, 2)), Task(target=np.eye(2)))


@pytest.mark.parametrize("kind", noise.NOISE_KINDS)
def test_fisher_noise_without_the_dense_matrix_equals_dense(kind):
    from dlnsim import Network, curvature

    net = Network.random((3, 4, 2, 3), scale=0.7, seed=4)
    cov = np.diag([1.0, 2.0, 0.5])
    xi = np.random.default_rng(1).standard_normal(net.n_params)
    h = curvature.gauss_newton(net, cov)
    if kind == "sqrt_fisher":  # G^{1/2} via eigh, null eigenvalues (round-off) set to 0
        e, u = np.linalg.eigh(h)
        e = np.where(e > 1e-12 * e.max(), e, 0.0)
        want = (u * np.sqrt(e)) @ u.T @ xi
    elif kind == "sqrt_diag_fisher":
        want = np.sqrt(np.diag(h)) * xi
    elif kind == "isotropic":
        want = np.sqrt(np.trace(h) / h.shape[0]) * xi
    else:
        want = np.zeros_like(xi)
    got = noise.fisher_noise(net, cov, kind, xi)
    assert np.allclose(got, want, rtol=1e-8, atol=1e-10 * max(1.0, np.abs(want).max()))
