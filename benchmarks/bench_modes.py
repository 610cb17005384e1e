"""Throughput of the vectorised singular-mode dynamics (target: >= 1e6 mode-steps/s).

    python benchmarks/bench_modes.py [--modes 10000] [--depth 4] [--steps 200]

One mode-step is one explicit step of one mode (all its d layers). Measured for the discrete
stepper (modes.simulate(method="discrete")) and for the bare vector field, per rule, against a
plain Python loop over modes as the reference, in one run.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from _timing import best_time  # benchmarks/ is on sys.path when run as a script

from dlnsim import modes


def python_loop(sigma, target, q, block, steps, lr):
    """The obvious reference: one mode at a time, one layer at a time."""
    s = [list(row) for row in sigma]
    d = len(s[0])
    for _ in range(steps):
        for k, row in enumerate(s):
            sbar = math.prod(row)
            j = [math.prod(row[:i] + row[i + 1:]) for i in range(d)]
            sd = sbar - target[k]
            if block:
                v = [-(d ** (-1 / q)) * sd * ji * (ji * ji) ** (-1 / q) if ji else 0.0 for ji in j]
            else:
                nj = sum(ji * ji for ji in j)
                v = [-sd * ji * nj ** (-1 / q) if nj else 0.0 for ji in j]
            s[k] = [x + lr * vi for x, vi in zip(row, v)]
    return np.array(s)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--modes", type=int, default=10000)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--steps", type=int, default=200)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    sigma0 = 0.1 + rng.random((a.modes, a.depth))
    target = 0.5 + 2 * rng.random(a.modes)
    lr = 0.01
    print(f"{a.modes} modes, depth {a.depth}, {a.steps} discrete steps, float64")
    print(f"{'rule':>14} {'vectorised [mode-steps/s]':>26} {'python loop [mode-steps/s]':>27} "
          f"{'ratio':>7} {'max diff':>9}")
    n_ref = min(a.modes, 200)  # the Python loop is slow: time it on a slice of the modes
    for q, block, name in [(2.0, False, "sqrt-NGD"), (1.0, False, "NGD"),
                           (1.0, True, "NGD-d"), (2.0, True, "sqrt-NGD-d")]:
        run, t_vec = best_time(lambda q=q, block=block: modes.simulate(
            sigma0, target, np.arange(0, a.steps + 1, a.steps), q=q, block_diagonal=block,
            lr=lr, method="discrete"), repeats=3)
        ref, t_ref = best_time(lambda q=q, block=block: python_loop(
            sigma0[:n_ref], target[:n_ref], q, block, a.steps, lr), repeats=1)
        diff = float(np.abs(run.sigma[-1][:n_ref] - ref).max())
        vec_rate = a.modes * a.steps / t_vec
        ref_rate = n_ref * a.steps / t_ref
        print(f"{name:>14} {vec_rate:26.3e} {ref_rate:27.3e} {vec_rate / ref_rate:6.0f}x "
              f"{diff:9.1e}", flush=True)


if __name__ == "__main__":
    main()
