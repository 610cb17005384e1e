"""Checks of Wen et al., *SGD with covariance noise* (paper 001).

Paper file: 001_ceabc0aa4e13be77.txt. Statements and notes: theory/wen_noise.md.
"""

from __future__ import annotations

import numpy as np

from dlnsim import curvature
from dlnsim import quadratic as noise
from dlnsim.network import Network
from dlnsim.verify.registry import Outcome, claim


@claim("noise.thm41", "Wen et al., Theorem 4.1 (eq 2 on the convex quadratic)",
       "With alpha_k = 2/((k+gamma) lambda_min), the exact E[L(theta_k)] (mean and covariance "
       "propagated exactly) stays under nu/(k+gamma), nu = max(2 Tr(C^T A C)/lambda_min^2, "
       "gamma L(theta_0)), for every noise C; Monte Carlo runs agree within 5 standard errors",
       1.0)
def thm41() -> Outcome:
    rng = np.random.default_rng(0)
    s = rng.standard_normal((3, 3))
    cov = s @ s.T / 3 + 0.3 * np.eye(3)
    net = Network([rng.standard_normal((2, 3))])  # depth 1: the loss is a convex quadratic
    a = curvature.gauss_newton(net, cov)           # its Hessian A = Gauss-Newton matrix
    theta0 = (net.map - rng.standard_normal((2, 3))).ravel()
    alphas, gamma = noise.theorem41_schedule(a, 1000)
    lam_min = np.linalg.eigvalsh(a).min()
    worst, mc_ok, parts = 0.0, True, []
    for kind in noise.NOISE_KINDS:
        c = noise.noise_matrix(kind, a)
        exact = noise.propagate_moments(a, c, theta0, alphas)
        nu = max(2 * np.trace(c.T @ a @ c) / lam_min**2, gamma * 0.5 * theta0 @ a @ theta0)
        k = np.arange(exact.size)
        margin = float(np.max((exact / (nu / (k + gamma)))[1:]))  # k = 0 can attain the bound
        losses = noise.run_quadratic(a, c, theta0, alphas, runs=2000, seed=1)
        mean = losses.mean(axis=1)
        if kind == "none":  # deterministic: every run is the exact mean
            z = 0.0
            mc_ok &= bool(np.allclose(mean, exact, rtol=1e-10, atol=0.0))
        else:  # k >= 1; the floor keeps round-off from counting as standard errors
            se = losses.std(axis=1) / np.sqrt(losses.shape[1])
            z = float(np.max(np.abs(mean - exact)[1:]
                             / np.maximum(se, 1e-12 * np.abs(exact))[1:]))
            mc_ok &= z <= 5.0  # the largest of ~1000 correlated steps: 5 standard errors
        worst = max(worst, margin)
        parts.append(f"{kind}: max_k>=1 E[L_k] / bound = {margin:.3f}, Monte Carlo within "
                     f"{z:.2f} standard errors")
    return Outcome(worst, "error = worst margin E[L_k] (k + gamma) / nu over k >= 1 (< 1: the "
                   "bound holds); " + "; ".join(parts) + " (2000 runs, seed 1)",
                   holds=bool(mc_ok))


@claim("noise.frobenius", "Wen et al., section 4 (eq 6 and after) and Fig 4",
       "sqrt-Fisher and sqrt-diagonal-Fisher noise have the same Tr(C^T C) but different "
       "Tr(C^T A C); with a constant step size the diagonal noise reaches the lower stationary "
       "loss (exact discrete-Lyapunov value, confirmed by Monte Carlo)", 0.02)
def frobenius() -> Outcome:
    cov = np.array([[1.0, 0.9], [0.9, 1.0]])       # strongly correlated inputs
    net = Network([np.array([[0.3, -0.2]])])        # depth 1: A = Gauss-Newton = S
    a = curvature.gauss_newton(net, cov)
    full = noise.noise_matrix("sqrt_fisher", a)
    diag = noise.noise_matrix("sqrt_diag_fisher", a)
    same = abs(np.trace(full.T @ full) - np.trace(diag.T @ diag)) / np.trace(a)
    tr_full, tr_diag = np.trace(full.T @ a @ full), np.trace(diag.T @ a @ diag)
    worst, parts, exact = 0.0, [], {}
    for alpha in (0.1, 0.3):
        for name, c in (("full", full), ("diag", diag)):
            exact[name, alpha] = noise.stationary_loss(a, c, alpha)
            losses = noise.run_quadratic(a, c, np.zeros(2), np.full(1500, alpha), runs=4000,
                                         seed=5)
            mc = float(losses[500:].mean())          # after burn-in
            worst = max(worst, abs(mc - exact[name, alpha]) / exact[name, alpha])
            parts.append(f"alpha={alpha:g} {name}: exact {exact[name, alpha]:.5f}, MC {mc:.5f}")
    lower = all(exact["diag", al] < exact["full", al] for al in (0.1, 0.3))
    return Outcome(worst, f"error = max |MC - exact| / exact; Tr(C^T C) equal to {same:.1e}; "
                   f"Tr(C^T A C) = {tr_full:.2f} (full) vs {tr_diag:.2f} (diag); "
                   + "; ".join(parts), holds=same < 1e-12 and tr_diag < tr_full and lower)
