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


def _stream(seed: int):
    """The generator a one-member run gives a stochastic rule: child 0 of its seed."""
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])


def _noise_matrix_dense(h: np.ndarray, kind: str) -> np.ndarray:
    """``C`` of eq 2 from the dense Fisher (= Gauss-Newton) matrix ``h``, by eigh."""
    if kind == "sqrt_fisher":
        lam, vec = np.linalg.eigh(h)
        # eigenvalues at round-off (|lam| <= 1e-12 max) are the null space of J: exact zeros,
        # whose square roots would otherwise be ~1e-8
        lam = np.where(lam > 1e-12 * lam.max(), lam, 0.0)
        return (vec * np.sqrt(lam)) @ vec.T
    if kind == "sqrt_diag_fisher":
        return np.diag(np.sqrt(np.diag(h)))
    return np.sqrt(np.trace(h) / h.shape[0]) * np.eye(h.shape[0])


@claim("noise.rule_steps", "Wen et al., eq 2 (covariance noise on a deep linear network)",
       "noisy_sgd moves the weights by -lr g + lr scale C xi with C = F^{1/2}, diag(F)^{1/2} or "
       "sqrt(Tr F / P) I of the network's Fisher F (S != I), xi ~ N(0, I) drawn afresh each "
       "step", 1e-10)
def rule_steps() -> Outcome:
    # Two discrete steps on a depth-3 bottleneck network with correlated inputs, against eq 2
    # with F = J_R^T J_R dense (perturbation Jacobian, eigh) and the documented draws (one
    # standard normal vector of length P a step from the member's generator)
    from dlnsim import rules
    from dlnsim.integrate import simulate
    from dlnsim.task import Task
    from dlnsim.testing.reference import dense_gauss_newton, dense_gradient, flat
    from dlnsim.verify.zhang import _random_spd

    rng = np.random.default_rng(41)
    s = _random_spd(3, rng)
    task = Task(target=rng.standard_normal((3, 3)), input_cov=s)
    net = Network.random((3, 4, 2, 3), scale=0.7, seed=41)
    lr, scale, worst, parts = 0.1, 0.7, 0.0, []
    for kind in ("isotropic", "sqrt_fisher", "sqrt_diag_fisher"):
        traj = simulate(net, task, rules.noisy_sgd(kind, scale, seed=5), [0, 1, 2], lr=lr,
                        method="discrete", quiet=True)
        draws, weights, want = _stream(5), net.weights, []
        for _ in range(2):
            theta = flat(weights)
            c = _noise_matrix_dense(dense_gauss_newton(weights, task.input_cov), kind)
            xi = draws.standard_normal(theta.size)
            theta = theta - lr * dense_gradient(weights, task.target, task.input_cov) \
                + lr * scale * c @ xi
            weights = net.unflatten(theta)
            want.append(theta)
        got = [flat([w[k] for w in traj.weights]) for k in (1, 2)]
        err = max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(got, want))
        worst = max(worst, err)
        parts.append(f"{kind} {err:.1e}")
    return Outcome(worst, "max relative weight error of two steps against eq 2 with the dense "
                   "Fisher: " + ", ".join(parts))


@claim("noise.minibatch_steps", "Wen et al., section 2 (minibatch SGD, the noise it compares)",
       "minibatch_sgd steps by the gradient of 1/2 mean ||W x - y||^2 over `batch` examples "
       "drawn without replacement, afresh each step; with batch = N it is full-batch GD", 1e-10)
def minibatch_steps() -> Outcome:
    # Three discrete steps on a data-built task (S != I, depth 3) against the minibatch
    # gradient written out per layer, W_{>i}^T (W X_B - Y_B) X_B^T W_{<i}^T / b, with the
    # documented draws (rng.choice(N, b, replace=False) from the member's generator)
    from dlnsim import rules
    from dlnsim.integrate import simulate
    from dlnsim.verify._kfac_reference import _products
    from dlnsim.verify.zhang import _data_task

    task = _data_task(4, 3, 9, 42)
    net = Network.random((4, 5, 3, 3), scale=0.6, seed=42)
    x, y, n = task.inputs, task.outputs, task.inputs.shape[1]
    lr, worst, parts = 0.1, 0.0, []
    for batch in (3, n):
        traj = simulate(net, task, rules.minibatch_sgd(batch, seed=6), np.arange(4.0), lr=lr,
                        method="discrete", quiet=True)
        draws, ws = _stream(6), [np.array(w) for w in net.weights]
        for _ in range(3):
            idx = draws.choice(n, size=batch, replace=False)
            below, above = _products(ws)
            r = (above[0] @ ws[0] @ x[:, idx] - y[:, idx]) @ x[:, idx].T / batch
            ws = [w - lr * a.T @ r @ b.T for w, a, b in zip(ws, above, below)]
        err = max(float(np.abs(w[-1] - v).max() / np.abs(v).max())
                  for w, v in zip(traj.weights, ws))
        worst = max(worst, err)
        parts.append(f"batch {batch} of {n}: {err:.1e}")
    return Outcome(worst, "max relative weight error after 3 steps against the minibatch "
                   "gradient written out: " + ", ".join(parts))
