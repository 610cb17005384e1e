"""Claims of this project about scaling exact q-NGD (theory/scale.md)."""

from __future__ import annotations

import math

import numpy as np

from dlnsim import modes, rules
from dlnsim.integrate import simulate
from dlnsim.network import Network
from dlnsim.task import Task
from dlnsim.verify.registry import Outcome, claim


@claim("scale.end_to_end", "dlnsim (theory/scale.md), generalising Arora et al. 2018",
       "For balanced networks with whitened inputs, q-NGD's map obeys the closed ODE "
       "dW/dt = -lr K_W K_W^{+1/q}[W - W*], K_W diagonal in the SVD basis of W", 1e-8)
def end_to_end() -> Outcome:
    rng = np.random.default_rng(12)
    worst, parts, min_sv = 0.0, [], math.inf
    for widths in [(3, 4, 5, 2), (4, 4, 4), (2, 3, 3, 3, 4)]:
        # balanced but not aligned with the target: built on a random matrix's SVD
        basis = rng.standard_normal((widths[-1], widths[0]))
        m = min(widths)
        net = Network.aligned(basis, 0.2 + rng.random(m), widths=widths, seed=3)
        # a target that the map reaches without a singular value passing through 0, where
        # undamped NGD is singular (see theory/scale.md)
        task = Task(target=net.map + 0.3 * rng.standard_normal((widths[-1], widths[0])))
        t = np.linspace(0, 3, 4)
        for q in (math.inf, 1.0, 2.0, 3.0):
            full = simulate(net, task, rules.ngd(q, path="dense"), t, lr=0.7, quiet=True)
            e2e = modes.simulate_end_to_end(net.map, task.target, t, net.depth, q, lr=0.7)
            if not (full.success and e2e.success):
                return Outcome(math.inf, f"{widths} q={q:g}: {full.message} / {e2e.message}")
            err = float(np.abs(full.map - e2e.sigma).max())
            min_sv = min(min_sv, float(np.linalg.svd(full.map, compute_uv=False)
                                       [:, :min(widths)].min()))
            worst = max(worst, err)
            parts.append(f"{widths} q={q:g}: {err:.1e}")
    return Outcome(worst, "max |W_full(t) - W_e2e(t)| (dense path for the full run); "
                   + ", ".join(parts) + f"; min singular value of W along the runs "
                   f"{min_sv:.2f}")
