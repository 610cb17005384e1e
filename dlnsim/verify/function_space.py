"""Checks of *Hilbert-constrained gradient descent* (HCGD; paper 002).

Paper file: 002_fc794157c9a30745.txt. Statements and notes: theory/hcgd.md.
"""

from __future__ import annotations

import numpy as np

from dlnsim import curvature
from dlnsim.network import Network
from dlnsim.optim import hcgd
from dlnsim.task import Task
from dlnsim.verify.registry import Outcome, claim


@claim("hcgd.metric", "HCGD paper, section 2 (eq 6) with eq 2's Gauss-Newton analogy",
       "In a deep linear network with whitened validation inputs the squared L2 function "
       "distance D(t Delta) equals t^2 Delta^T G Delta up to O(t^3)", 0.05)
def metric() -> Outcome:
    rng = np.random.default_rng(0)
    ts = np.array([1e-1, 1e-2, 1e-3, 1e-4])
    worst_slope, worst_small, parts = 0.0, 0.0, []
    for widths in [(3, 3, 3), (2, 4, 3, 2), (4, 2, 5)]:
        net = Network.random(widths, scale=0.8, seed=len(widths))
        n_val = 3 * widths[0]
        x = np.linalg.qr(rng.standard_normal((n_val, widths[0])))[0].T * np.sqrt(n_val)
        val_cov = x @ x.T / n_val  # = I: whitened validation batch
        delta = [rng.standard_normal(w.shape) for w in net.weights]
        flat = np.concatenate([d.ravel() for d in delta])
        quad = float(flat @ curvature.gauss_newton(net) @ flat)
        rel = np.array([abs(hcgd.l2_distance_sq(net, [t * d for d in delta], val_cov) / t**2
                            - quad) / quad for t in ts])
        slope = np.polyfit(np.log(ts), np.log(rel), 1)[0]
        worst_slope = max(worst_slope, abs(slope - 1))
        worst_small = max(worst_small, float(rel[-1]))
        parts.append(f"{widths}: slope {slope:.3f}, rel dev at t=1e-4 {rel[-1]:.1e}")
    return Outcome(worst_slope, "error = |slope of log(|D/t^2 - G-form| / G-form) vs log t - 1| "
                   "(1 means D - t^2 Delta^T G Delta = O(t^3)); " + "; ".join(parts),
                   holds=worst_small < 1e-3)


@claim("hcgd.ngd_limit", "HCGD paper, eqs 5 and 7, Algorithm 1 (corrective steps)",
       "The corrective steps converge in function space to the natural-gradient step scaled by "
       "1/lam, at the linear rate 1 - eta lam mu_min (mu_min: smallest nonzero eigenvalue of G)",
       0.05)
def ngd_limit() -> Outcome:
    rng = np.random.default_rng(0)
    net = Network.random((3, 3, 3), scale=0.8, seed=1)
    task = Task(target=rng.standard_normal((3, 3)))
    x = np.linalg.qr(rng.standard_normal((12, 3)))[0].T * np.sqrt(12)  # whitened validation
    ev = np.linalg.eigvalsh(curvature.gauss_newton(net))
    mu = ev[ev > 1e-10 * ev.max()].min()
    g = curvature.gradient(net, task.target)
    ngd = curvature.ngd_direction(net, g, q=1.0, cotangent=net.map - task.target)
    worst, ends, parts = 0.0, [], []
    for lam in (1600.0, 25600.0):
        eta = 1 / (lam * ev.max())
        target_fn = -curvature.jvp(net, ngd) / lam  # function change of -(1/lam) G^+ g
        s = hcgd.step(net, task, x, lr=1 / lam, inner_lr=eta, lam=lam, corrections=2500)
        err = np.array([np.linalg.norm(curvature.jvp(net, it) - target_fn)
                        for it in s.iterates]) / np.linalg.norm(target_fn)
        k = np.arange(err.size)
        window = (k > 100) & (k < 700)
        rate = float(np.exp(np.polyfit(k[window], np.log(err[window]), 1)[0]))
        pred = 1 - eta * lam * mu
        worst = max(worst, abs((1 - rate) / (1 - pred) - 1))
        ends.append(float(err[-1]))
        parts.append(f"lam={lam:g}: rate {rate:.6f} vs predicted {pred:.6f}, error after "
                     f"2500 steps {err[-1]:.1e}")
    return Outcome(worst, "error = |(1 - measured rate)/(1 - predicted rate) - 1|; "
                   + "; ".join(parts), holds=ends[1] < ends[0] < 0.05)
