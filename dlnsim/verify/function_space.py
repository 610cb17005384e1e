"""Checks of *Hilbert-constrained gradient descent* (HCGD; paper 002).

Paper file: 002_fc794157c9a30745.txt. Statements and notes: theory/hcgd.md.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import polynomial as P

from dlnsim.network import Network
from dlnsim.optim import hcgd
from dlnsim.task import Task
from dlnsim.testing.reference import (
    dense_gauss_newton,
    dense_gradient,
    dense_jacobian,
    dense_power,
    flat,
    full_map,
)
from dlnsim.verify.registry import Outcome, claim


def _unwhitened_batch(rng, n0: int, n_val: int, spread: float = 1.0) -> np.ndarray:
    """A validation batch with correlated, unequal input directions (S_v != I)."""
    mix = spread * rng.standard_normal((n0, n0)) + 2 * np.eye(n0)
    return mix @ rng.standard_normal((n0, n_val))


@claim("hcgd.metric", "HCGD paper, section 2 (eq 6) with eq 2's Gauss-Newton analogy",
       "In a deep linear network the squared L2 function distance D(t Delta) on a validation "
       "batch with covariance S_v is a polynomial in t whose t^2 coefficient is exactly "
       "Delta^T G_v Delta, G_v the Gauss-Newton matrix of S_v (constant and linear terms 0)",
       1e-9)
def metric() -> Outcome:
    rng = np.random.default_rng(0)
    worst, parts = 0.0, []
    for widths in [(3, 3, 3), (2, 4, 3, 2), (4, 2, 5)]:
        net = Network.random(widths, scale=0.8, seed=len(widths))
        x = _unwhitened_batch(rng, widths[0], 3 * widths[0])
        val_cov = x @ x.T / x.shape[1]
        delta = [rng.standard_normal(w.shape) for w in net.weights]
        quad = float(flat(delta) @ dense_gauss_newton(net.weights, val_cov) @ flat(delta))
        degree = 2 * net.depth  # the map is a degree-d polynomial in t, D one of degree 2d
        ts = np.cos(np.pi * (np.arange(degree + 1) + 0.5) / (degree + 1))  # Chebyshev nodes
        ds = [hcgd.l2_distance_sq(net, [t * d for d in delta], val_cov) for t in ts]
        coef = P.polyfit(ts, ds, degree)
        size = np.abs(coef).max()
        err = max(abs(coef[2] - quad) / quad, abs(coef[0]) / size, abs(coef[1]) / size)
        worst = max(worst, err)
        parts.append(f"{widths}: t^2 coefficient {coef[2]:.6g} vs Delta^T G_v Delta "
                     f"{quad:.6g} ({err:.1e})")
    return Outcome(worst, "exact coefficients from 2d + 1 Chebyshev nodes; G_v from the "
                   "perturbation Jacobian; " + "; ".join(parts))


@claim("hcgd.ngd_limit", "HCGD paper, eqs 5 and 7, Algorithm 1 (corrective steps)",
       "The corrective steps converge in function space to the natural-gradient step scaled by "
       "1/lam with the validation batch's Gauss-Newton matrix G_v, at the linear rate "
       "1 - eta lam mu_min (mu_min: smallest nonzero eigenvalue of G_v)", 0.05)
def ngd_limit() -> Outcome:
    rng = np.random.default_rng(0)
    net = Network.random((3, 3, 3), scale=0.8, seed=1)
    task = Task(target=rng.standard_normal((3, 3)))
    x = _unwhitened_batch(rng, 3, 12, spread=0.4)  # S_v != I, its spectrum within ~[1, 9]
    val_cov = x @ x.T / x.shape[1]
    g_v = dense_gauss_newton(net.weights, val_cov)
    ev = np.linalg.eigvalsh(g_v)
    mu = ev[ev > 1e-10 * ev.max()].min()
    jac = dense_jacobian(net.weights)
    step_ngd = dense_power(g_v, dense_gradient(net.weights, task.target), 1.0)  # G_v^+ g
    worst, ends, parts = 0.0, {}, []
    for lam in (1600.0, 25600.0):
        eta = 1 / (lam * ev.max())
        target_fn = -jac @ step_ngd / lam  # function change of -(1/lam) G_v^+ g
        s = hcgd.step(net, task, x, lr=1 / lam, inner_lr=eta, lam=lam, corrections=2500)
        err = np.array([np.linalg.norm(jac @ flat(it) - target_fn)
                        for it in s.iterates]) / np.linalg.norm(target_fn)
        ends[lam] = float(err[-1])
        if lam < 25600.0:
            continue
        # the rate: past the faster modes (k > 400), well above the O(1/lam) floor
        k = np.arange(err.size)
        window = (k > 400) & (err > 10 * err[-1])
        rate = float(np.exp(np.polyfit(k[window], np.log(err[window]), 1)[0]))
        pred = 1 - eta * lam * mu
        worst = abs((1 - rate) / (1 - pred) - 1)
        parts.append(f"lam={lam:g}: rate {rate:.6f} vs predicted {pred:.6f}")
    floor = ends[1600.0] / ends[25600.0]
    parts.append(f"error after 2500 steps {ends[1600.0]:.1e} (lam = 1600), "
                 f"{ends[25600.0]:.1e} (lam = 25600): ratio {floor:.1f}, O(1/lam) predicts 16")
    return Outcome(worst, "error = |(1 - measured rate)/(1 - predicted rate) - 1|; "
                   "G_v and G_v^+ g from the dense reference; " + "; ".join(parts),
                   holds=ends[1600.0] < 0.05 and 8 <= floor <= 32)


def _distance_gradient(net: Network, weights, s_v: np.ndarray):
    """``grad D`` by central differences (step 1e-6) of ``D(v) = Tr[dW S_v dW^T]`` written out,
    ``dW`` the change of the map when the flat weights move by ``v`` (no HCGD code)."""
    base, before = flat(weights), full_map(weights)

    def distance(v):
        dw = full_map(net.unflatten(base + v)) - before
        return float(np.sum((dw @ s_v) * dw))

    def gradient(v, h=1e-6):
        e = np.eye(v.size)
        return np.array([(distance(v + h * e[i]) - distance(v - h * e[i])) / (2 * h)
                         for i in range(v.size)])
    return gradient


@claim("hcgd.iterates", "HCGD paper, Algorithm 1 (lines 7-17)",
       "Algorithm 1's first iterates: the SGD proposal -eps g, a first correction by the "
       "gradient of (lam/2) D alone, and further corrections by g + (lam/2) grad D, with D the "
       "exact L2 function change on the validation batch", 1e-7)
def iterates() -> Outcome:
    # The limit claim (2500 corrections) cannot see how the first steps are taken; here each
    # of the first three iterates is rebuilt from the algorithm's lines with the dense
    # gradient and D's gradient by central differences of D written out (no library code of
    # HCGD): relative error ~1e-9 from the differences (step 1e-6), tolerance 1e-7.
    rng = np.random.default_rng(3)
    net = Network.random((3, 4, 2), scale=0.7, seed=4)
    task = Task(target=rng.standard_normal((2, 3)))
    x = _unwhitened_batch(rng, 3, 10, spread=0.4)
    s_v = x @ x.T / x.shape[1]
    eps, eta, lam = 0.3, 0.05, 2.0
    g = dense_gradient(net.weights, task.target)
    grad_distance = _distance_gradient(net, net.weights, s_v)
    want = [-eps * g]                                              # lines 8-9
    want.append(want[0] - eta * (lam / 2) * grad_distance(want[0]))  # lines 11-12
    want.append(want[1] - eta * (g + (lam / 2) * grad_distance(want[1])))  # lines 15-16
    got = hcgd.step(net, task, x, lr=eps, inner_lr=eta, lam=lam, corrections=2).iterates
    errs = [float(np.linalg.norm(flat(a) - b) / np.linalg.norm(b)) for a, b in zip(got, want)]
    return Outcome(max(errs), "relative error of iterates 0, 1, 2 against Algorithm 1 "
                              "rebuilt by hand: " + ", ".join(f"{e:.1e}" for e in errs))


@claim("hcgd.momentum", "HCGD paper, Algorithm 1 (lines 3, 8, 13, 17: the momentum buffer)",
       "rules.hcgd with momentum beta follows Algorithm 1 over several steps: v <- beta v + "
       "eps g proposes -v, every correction is added to v, and v carries to the next step "
       "with a fresh validation batch", 1e-7)
def momentum() -> Outcome:
    # Three discrete steps of the rule (two corrections each) against Algorithm 1 written out,
    # D's gradient by central differences of D itself (as hcgd.iterates), the validation
    # batches the rule's documented draws (member 0: child 0 of the seed, a standard normal
    # (n_0, val_batch) block a step, S = I)
    from dlnsim import rules
    from dlnsim.integrate import simulate

    rng = np.random.default_rng(5)
    net = Network.random((3, 4, 2), scale=0.7, seed=5)
    task = Task(target=rng.standard_normal((2, 3)))
    eps, eta, lam, beta, batch, steps = 0.3, 0.05, 2.0, 0.6, 8, 3
    traj = simulate(net, task, rules.hcgd(inner_lr=eta, lam=lam, corrections=2,
                                          momentum=beta, val_batch=batch, seed=7),
                    np.arange(steps + 1.0), lr=eps, method="discrete", quiet=True)
    draws = np.random.default_rng(np.random.SeedSequence(7).spawn(1)[0])
    theta, v, want = flat(net.weights), np.zeros(sum(w.size for w in net.weights)), []
    for _ in range(steps):
        weights = net.unflatten(theta)
        x = draws.standard_normal((3, batch))
        s_v = x @ x.T / batch

        grad_distance = _distance_gradient(net, weights, s_v)

        def half_grad(d, grad_distance=grad_distance):  # (lam / 2) grad D
            return lam / 2 * grad_distance(d)

        g = dense_gradient(weights, task.target)
        v = beta * v + eps * g                       # line 8
        delta = -v                                   # line 9
        c = half_grad(delta)                         # line 11
        delta, v = delta - eta * c, v + eta * c      # lines 12-13
        c = g + half_grad(delta)                     # line 15
        delta, v = delta - eta * c, v + eta * c      # lines 16-17
        theta = theta + delta                        # line 18
        want.append(theta)
    got = [flat([w[k] for w in traj.weights]) for k in range(1, steps + 1)]
    errs = [float(np.linalg.norm(a - b) / np.linalg.norm(b)) for a, b in zip(got, want)]
    return Outcome(max(errs), "relative error of the weights after steps 1-3 against "
                   "Algorithm 1 with momentum written out: " + ", ".join(f"{e:.1e}" for e in errs))
