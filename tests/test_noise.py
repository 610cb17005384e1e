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
