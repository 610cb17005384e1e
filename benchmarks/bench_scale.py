"""Exact q-NGD direction at widths 32-512: the balanced one-SVD path against the dense
map-space path, in one run.

    python benchmarks/bench_scale.py [--q 2] [--depth 4] [--widths 32 64 128 256 512]

Networks are balanced (c_i = 0, built on a random matrix's SVD) with singular values spread over
three decades, whitened inputs. The dense path diagonalises the (n^2 x n^2) kernel K and is run
only up to --max-dense (its cost is O(n^6)); the balanced path costs one SVD plus the
vector-Jacobian product, O(d n^3). Reported: best-of-k times and the max relative difference.
The preconditioned Krylov path for unbalanced networks does not exist yet (see the issue).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dlnsim import Network, Task, rules


def best_time(fn, repeats=3, budget=5.0):
    best, spent, out = np.inf, 0.0, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best, spent = min(best, dt), spent + dt
        if spent > budget:
            break
    return out, best


def direction(net: Network, task: Task, q: float, path: str) -> np.ndarray:
    return np.concatenate([x.ravel() for x in rules.ngd(q, path=path).velocity(net, task)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--q", type=float, default=2.0)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    p.add_argument("--max-dense", type=int, default=32)
    a = p.parse_args()
    print(f"q = {a.q:g}, depth {a.depth}, balanced, singular values over 3 decades, float64")
    print(f"{'n':>4} {'balanced [s]':>13} {'dense map-space [s]':>20} {'ratio':>8} "
          f"{'max rel diff':>13}")
    for n in a.widths:
        rng = np.random.default_rng(n)
        strengths = np.geomspace(1.0, 1e-3, n)
        net = Network.aligned(rng.standard_normal((n, n)), strengths,
                              widths=(n,) * (a.depth + 1), seed=n)
        task = Task(target=rng.standard_normal((n, n)))
        v_bal, t_bal = best_time(lambda net=net, task=task: direction(net, task, a.q,
                                                                      "balanced"))
        if n <= a.max_dense:
            v_den, t_den = best_time(lambda net=net, task=task: direction(net, task, a.q,
                                                                          "dense"), repeats=1)
            diff = np.abs(v_bal - v_den).max() / np.abs(v_den).max()
            print(f"{n:4d} {t_bal:13.4f} {t_den:20.4f} {t_den / t_bal:7.0f}x {diff:13.2e}",
                  flush=True)
        else:
            print(f"{n:4d} {t_bal:13.4f} {'skipped (O(n^6))':>20} {'-':>8} {'-':>13}",
                  flush=True)


if __name__ == "__main__":
    main()
