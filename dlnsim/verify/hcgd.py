"""Checks of *Hilbert-constrained gradient descent* (HCGD; paper 002).

Paper file: 002_fc794157c9a30745.txt. Statements and notes: theory/hcgd.md.
"""

from __future__ import annotations

import numpy as np

from dlnsim import curvature, hcgd
from dlnsim.network import Network
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
