"""Time the exact q-NGD direction: map-space path against the dense P x P reference.

    python benchmarks/bench_direction.py [--q 2] [--depth 4] [--widths 8 16 32 64]

Both paths compute H^{+1/q} g for the same random network (entries N(0, 1/n)) and target, in
float64, in one run. The dense path builds the P x P Gauss-Newton matrix
(``curvature.gauss_newton``) and applies its fractional pseudo-inverse by ``numpy.linalg.eigh``:
O(P^3) = O((d n^2)^3). The map-space path (``rules.ngd(q)``) diagonalises the
(n_d n_0) x (n_d n_0) kernel K: O(n^6). Reported: best-of-k wall times, their ratio, and the
max relative difference max|v_map - v_dense| / max|v_dense|. The dense path is skipped where H
would not fit comfortably in memory (P > --max-dense-params).
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from _timing import best_time  # benchmarks/ is on sys.path when run as a script

from dlnsim import Network, Task, curvature, rules


def dense_direction(net: Network, task: Task, q: float) -> np.ndarray:
    h = curvature.gauss_newton(net, task.input_cov)
    g = np.concatenate([x.ravel() for x in curvature.gradient(net, task.target, task.input_cov)])
    evals, evecs = np.linalg.eigh(h)
    f = curvature.inverse_power(evals, q)
    return -(evecs @ (f * (evecs.T @ g)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--q", type=float, default=2.0)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32, 64])
    p.add_argument("--max-dense-params", type=int, default=8192)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rule = rules.ngd(a.q, path="dense")  # the exact map-space kernel, whatever the size
    print(f"q = {a.q:g}, depth d = {a.depth}, square widths n, entries N(0, 1/n), float64")
    print(f"{'n':>4} {'P':>7} {'map-space [s]':>14} {'dense P x P [s]':>16} {'ratio':>8} "
          f"{'max rel diff':>13}")
    for n in a.widths:
        net = Network.random((n,) * (a.depth + 1), scale=1 / math.sqrt(n), seed=a.seed)
        task = Task(target=np.random.default_rng(a.seed + 1).standard_normal((n, n)))
        v_map, t_map = best_time(
            lambda net=net, task=task: np.concatenate(
                [x.ravel() for x in rule.velocity(net, task)]), repeats=5)
        if net.n_params <= a.max_dense_params:
            v_dense, t_dense = best_time(lambda net=net, task=task: dense_direction(
                net, task, a.q), repeats=3, budget=1.0)
            diff = np.abs(v_map - v_dense).max() / np.abs(v_dense).max()
            print(f"{n:4d} {net.n_params:7d} {t_map:14.4f} {t_dense:16.4f} "
                  f"{t_dense / t_map:7.1f}x {diff:13.2e}", flush=True)
        else:
            gib = net.n_params**2 * 8 / 2**30
            print(f"{n:4d} {net.n_params:7d} {t_map:14.4f} {'skipped':>16} {'-':>8} {'-':>13}"
                  f"   (dense H would take {gib:.1f} GiB)", flush=True)


if __name__ == "__main__":
    main()
