"""Gradient descent with covariance noise (Wen et al., eq 2) on the convex quadratic.

``theta_{k+1} = theta_k - alpha_k grad L(theta_k) + alpha_k C xi_k`` with ``xi_k ~ N(0, I)``,
on ``L(theta) = 1/2 theta^T A theta``. For a depth-1 network, ``A`` is the Gauss-Newton matrix
of the task (``curvature.gauss_newton``) and ``theta = vec(W - W*)``. Runs are vectorised over
Monte Carlo repetitions and reproducible bit for bit from ``seed``. The same noise on deep
linear networks is the rule :func:`dlnsim.rules.noisy_sgd`.
"""

from __future__ import annotations

import numpy as np

from dlnsim import _validate as V
from dlnsim.curvature.spectral import sqrt_psd

NOISE_KINDS = ("none", "isotropic", "sqrt_fisher", "sqrt_diag_fisher")


def noise_matrix(kind: str, a: np.ndarray) -> np.ndarray:
    """``C`` for a noise kind: none (0), isotropic (``sqrt(tr A / d) I``, same ``Tr(C^T C)``
    as the Fisher kinds), sqrt of the full Fisher ``A^{1/2}``, sqrt of its diagonal."""
    a = V.spd(a, "a")
    d = a.shape[0]
    if kind == "none":
        return np.zeros_like(a)
    if kind == "isotropic":
        return np.sqrt(np.trace(a) / d) * np.eye(d)
    if kind == "sqrt_fisher":
        return sqrt_psd(a)
    if kind == "sqrt_diag_fisher":
        return np.diag(np.sqrt(np.diag(a)))
    raise ValueError(f"kind must be one of {NOISE_KINDS}, got {kind!r}")


def theorem41_schedule(a: np.ndarray, steps: int) -> tuple[np.ndarray, float]:
    """Step sizes ``alpha_k = 2 / ((k + gamma) lambda_min)`` of Theorem 4.1 with the smallest
    ``gamma`` that keeps ``alpha_k <= 1/lambda_max`` for ``k >= 0``."""
    e = np.linalg.eigvalsh(V.spd(a, "a"))
    gamma = 2 * e.max() / e.min()
    k = np.arange(V.positive_int(steps, "steps"))
    return 2.0 / ((k + gamma) * e.min()), float(gamma)


def run_quadratic(a: np.ndarray, c: np.ndarray, theta0: np.ndarray, alphas: np.ndarray,
                  runs: int = 1000, seed: int = 0) -> np.ndarray:
    """Monte Carlo runs of eq 2; returns ``L(theta_k)`` of shape ``(steps + 1, runs)``."""
    a = V.spd(a, "a")
    c = V.as_matrix(c, "c", a.shape)
    theta0 = np.asarray(theta0, dtype=float)
    if theta0.shape != (a.shape[0],):
        raise ValueError(f"theta0 must have shape ({a.shape[0]},), got {theta0.shape}")
    rng = np.random.default_rng(V.seed(seed))
    theta = np.repeat(theta0[None, :], V.positive_int(runs, "runs"), axis=0)
    losses = [0.5 * np.einsum("ri,ij,rj->r", theta, a, theta)]
    for alpha in alphas:
        xi = rng.standard_normal(theta.shape)
        theta = theta - alpha * theta @ a + alpha * xi @ c.T
        losses.append(0.5 * np.einsum("ri,ij,rj->r", theta, a, theta))
    return np.array(losses)


def propagate_moments(a: np.ndarray, c: np.ndarray, theta0: np.ndarray,
                      alphas: np.ndarray) -> np.ndarray:
    """Exact ``E[L(theta_k)]`` of eq 2: the mean ``m_{k+1} = (I - a_k A) m_k`` and covariance
    ``Sigma_{k+1} = (I - a_k A) Sigma_k (I - a_k A)^T + a_k^2 C C^T`` propagated exactly, with
    ``E[L] = 1/2 (m^T A m + Tr(A Sigma))``; shape ``(steps + 1,)``."""
    a = V.spd(a, "a")
    c = V.as_matrix(c, "c", a.shape)
    m = np.asarray(theta0, dtype=float).copy()
    sigma = np.zeros_like(a)
    noise = c @ c.T
    out = [0.5 * (m @ a @ m)]
    eye = np.eye(a.shape[0])
    for alpha in alphas:
        step = eye - alpha * a
        m = step @ m
        sigma = step @ sigma @ step.T + alpha**2 * noise
        out.append(0.5 * (m @ a @ m + np.trace(a @ sigma)))
    return np.array(out)


def stationary_loss(a: np.ndarray, c: np.ndarray, alpha: float) -> float:
    """Exact stationary ``E[L]`` of eq 2 with a constant step ``alpha``:
    ``1/2 Tr(A Sigma)`` with ``Sigma = (I - alpha A) Sigma (I - alpha A)^T + alpha^2 C C^T``
    (a discrete Lyapunov equation; needs ``alpha < 2 / lambda_max``)."""
    from scipy.linalg import solve_discrete_lyapunov

    a = V.spd(a, "a")
    alpha = V.positive(alpha, "alpha")
    if alpha * np.linalg.eigvalsh(a).max() >= 2:
        raise ValueError("alpha must be below 2 / lambda_max(A) for a stationary state")
    m = np.eye(a.shape[0]) - alpha * a
    sigma = solve_discrete_lyapunov(m, alpha**2 * c @ c.T)
    return 0.5 * float(np.trace(a @ sigma))
