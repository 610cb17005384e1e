"""Covariance-noise SGD on the convex quadratic."""

import numpy as np
import pytest

from dlnsim import quadratic as noise


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



def test_propagated_moments_match_monte_carlo_and_the_scalar_recursion():
    a = np.array([[2.0]])
    c = np.array([[0.7]])
    alphas = np.full(30, 0.2)
    exact = noise.propagate_moments(a, c, np.array([1.5]), alphas)
    # scalar: m_k = 0.6^k 1.5, s_k = 0.36 s_{k-1} + 0.04 * 0.49; E[L] = (m^2 + s) a / 2
    m, s, want = 1.5, 0.0, [0.5 * 2.0 * 1.5**2]
    for _ in alphas:
        m, s = 0.6 * m, 0.36 * s + 0.04 * 0.49
        want.append(0.5 * 2.0 * (m * m + s))
    np.testing.assert_allclose(exact, want, rtol=1e-13)
    mc = noise.run_quadratic(a, c, np.array([1.5]), alphas, runs=20000, seed=3)
    se = mc.std(axis=1) / np.sqrt(mc.shape[1])
    assert np.all(np.abs(mc.mean(axis=1) - exact) <= 5 * se + 1e-15)
