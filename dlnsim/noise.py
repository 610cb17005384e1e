"""Gradient descent with covariance noise (Wen et al., eq 2) on the convex quadratic.

``theta_{k+1} = theta_k - alpha_k grad L(theta_k) + alpha_k C xi_k`` with ``xi_k ~ N(0, I)``,
on ``L(theta) = 1/2 theta^T A theta``. For a depth-1 network, ``A`` is the Gauss-Newton matrix
of the task (``curvature.gauss_newton``) and ``theta = vec(W - W*)``. Runs are vectorised over
Monte Carlo repetitions and reproducible bit for bit from ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlnsim import _validate as V
from dlnsim import curvature

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
        return curvature._sqrt_psd(a)
    if kind == "sqrt_diag_fisher":
        return np.diag(np.sqrt(np.diag(a)))
    raise ValueError(f"kind must be one of {NOISE_KINDS}, got {kind!r}")


def theorem41_schedule(a: np.ndarray, steps: int) -> tuple[np.ndarray, float]:
    """Step sizes ``alpha_k = 2 / ((k + gamma) lambda_min)`` of Theorem 4.1 with the smallest
    ``gamma`` that keeps ``alpha_k <= 1/lambda_max`` for ``k >= 0``."""
    e = np.linalg.eigvalsh(a)
    gamma = 2 * e.max() / e.min()
    k = np.arange(steps)
    return 2.0 / ((k + gamma) * e.min()), float(gamma)


def run_quadratic(a: np.ndarray, c: np.ndarray, theta0: np.ndarray, alphas: np.ndarray,
                  runs: int = 1000, seed: int = 0) -> np.ndarray:
    """Monte Carlo runs of eq 2; returns ``L(theta_k)`` of shape ``(steps + 1, runs)``."""
    a = V.spd(a, "a")
    c = V.as_matrix(c, "c", a.shape)
    theta0 = np.asarray(theta0, dtype=float)
    if theta0.shape != (a.shape[0],):
        raise ValueError(f"theta0 must have shape ({a.shape[0]},), got {theta0.shape}")
    rng = np.random.default_rng(seed)
    theta = np.repeat(theta0[None, :], runs, axis=0)
    losses = [0.5 * np.einsum("ri,ij,rj->r", theta, a, theta)]
    for alpha in alphas:
        xi = rng.standard_normal(theta.shape)
        theta = theta - alpha * theta @ a + alpha * xi @ c.T
        losses.append(0.5 * np.einsum("ri,ij,rj->r", theta, a, theta))
    return np.array(losses)


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


# -- noisy optimisers on deep linear networks (for dlnsim.integrate.optimize) ----------------
def fisher_noise(net, input_cov, kind: str, xi: np.ndarray) -> np.ndarray:
    """``C xi`` for the Gauss-Newton (= Fisher) matrix ``G`` of ``net`` without forming it:
    ``G^{1/2} xi = J_R^T K^{+1/2} J_R xi`` in map space, ``diag(G)`` from the Kronecker factors
    (``diag(A_i kron B_i)``), ``tr G = sum_i tr A_i tr B_i`` for the isotropic kind."""
    if kind == "none":
        return np.zeros_like(xi)
    if kind == "sqrt_fisher":
        y = curvature.map_kernel(net, input_cov).inverse_power(
            curvature.jvp_r(net, net.unflatten(xi), input_cov), q=2.0)
        return np.concatenate([x.ravel() for x in curvature.vjp_r(net, y, input_cov)])
    factors = curvature.block_factors(net, input_cov)
    if kind == "sqrt_diag_fisher":
        diag = np.concatenate([np.outer(np.diag(b), np.diag(a)).ravel() for a, b in factors])
        return np.sqrt(diag) * xi
    if kind == "isotropic":
        trace = sum(np.trace(a) * np.trace(b) for a, b in factors)
        return np.sqrt(trace / xi.size) * xi
    raise ValueError(f"kind must be one of {NOISE_KINDS}, got {kind!r}")


@dataclass(frozen=True)
class CovarianceNoiseSGD:
    """Eq 2 on a network: ``w <- w - lr g + lr scale C xi`` with ``C`` from the Gauss-Newton
    (= Fisher for Gaussian outputs) matrix at the current weights: ``"none"``,
    ``"isotropic"``, ``"sqrt_fisher"`` or ``"sqrt_diag_fisher"`` (Wen et al., Algorithm 1 uses
    the diagonal one); see :func:`fisher_noise`."""

    lr: float
    kind: str = "sqrt_diag_fisher"
    scale: float = 1.0

    @property
    def name(self) -> str:
        return f"sgd+{self.kind}(scale={self.scale:g})"

    def init(self, net, task):
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"kind must be one of {NOISE_KINDS}, got {self.kind!r}")
        return None

    def step(self, net, task, state, rng):
        g = curvature.gradient(net, task.target, task.input_cov)
        xi = rng.standard_normal(net.n_params)
        noise_vec = net.unflatten(fisher_noise(net, task.input_cov, self.kind, xi))
        return tuple(-self.lr * gi + self.lr * self.scale * ni
                     for gi, ni in zip(g, noise_vec)), state


@dataclass(frozen=True)
class MinibatchSGD:
    """Plain SGD on minibatches of the task's data (the reference noise of Wen et al.):
    the gradient of ``1/2 mean_i ||W x_i - y_i||^2`` over ``batch`` examples drawn without
    replacement each step."""

    lr: float
    batch: int = 4

    @property
    def name(self) -> str:
        return f"minibatch-sgd(batch={self.batch})"

    def init(self, net, task):
        if task.inputs is None:
            raise ValueError("MinibatchSGD needs a task with data (Task.teacher_student)")
        if not 1 <= self.batch <= task.inputs.shape[1]:
            raise ValueError(f"batch must be in [1, {task.inputs.shape[1]}], got {self.batch}")
        return None

    def step(self, net, task, state, rng):
        idx = rng.choice(task.inputs.shape[1], size=self.batch, replace=False)
        x, y = task.inputs[:, idx], task.outputs[:, idx]
        residual = (net.map @ x - y) @ x.T / self.batch  # d/dW of the batch loss
        return tuple(-self.lr * g for g in curvature.vjp(net, residual)), state
