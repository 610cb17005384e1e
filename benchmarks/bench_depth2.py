"""Time the exact depth-2 q-NGD direction against the dense map-space path and against eigh.

    python benchmarks/bench_depth2.py [--q 2] [--compare 16 32 48] [--alone 128 256 512 1024]

At depth 2 the map-space kernel ``K(X) = A X S + X R B R`` (``A = w_2 w_2^T``,
``B = w_1^T w_1``, ``R = S^{1/2}``) splits into ``n_2`` blocks of size ``n_0`` in the
eigenbasis of ``A``, and for ``S = I`` into the Kronecker sum ``alpha_a + beta_b``
(theory/scale.md, scale.depth2). Each row times one full velocity ``rules.ngd(q).velocity``
(gradient, exact direction, pullback), best of k, for unbalanced random networks (entries
N(0, 1/n), square widths) with ``S = I`` and with a random SPD ``S``, and reports it

* against the dense map-space path (``path="dense"``: eigh of the n^2 x n^2 kernel) at small
  n, with the max relative difference of the two directions;
* alone at large n, as a multiple of one ``numpy.linalg.eigh`` of an n x n symmetric matrix
  measured in the same run (goals: S = I at n = 1024 within 10 eighs; any S at n = 256
  within 2 x (256 eighs of 256 x 256), i.e. a ratio to n eighs of at most 2).

``S != I`` needs ``n_2`` eigendecompositions of size ``n_0`` held at once (n^3 doubles: 1 GiB
at n = 512, 8 GiB at n = 1024): rows above --max-general are skipped and say so.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from _timing import best_time  # benchmarks/ is on sys.path when run as a script

from dlnsim import Network, Task, rules


def random_spd(n: int, rng: np.random.Generator) -> np.ndarray:
    a = rng.standard_normal((n, n))
    return a @ a.T / n + 0.3 * np.eye(n)


def case(n: int, whitened: bool, seed: int) -> tuple[Network, Task]:
    rng = np.random.default_rng(seed)
    net = Network.random((n, n, n), scale=1 / math.sqrt(n), seed=seed)
    task = Task(target=rng.standard_normal((n, n)),
                input_cov=None if whitened else random_spd(n, rng))
    return net, task


def velocity(rule, net, task) -> np.ndarray:
    return np.concatenate([v.ravel() for v in rule.velocity(net, task)])


def eigh_time(n: int, seed: int) -> float:
    m = random_spd(n, np.random.default_rng(seed))
    return best_time(lambda: np.linalg.eigh(m), repeats=5, budget=3.0)[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--q", type=float, default=2.0)
    p.add_argument("--compare", type=int, nargs="*", default=[16, 32, 48])
    p.add_argument("--alone", type=int, nargs="*", default=[128, 256, 512, 1024])
    p.add_argument("--max-general", type=int, default=512,
                   help="largest n timed with S != I (memory n^3 doubles)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    fast, dense = rules.ngd(a.q, path="depth2"), rules.ngd(a.q, path="dense")
    print(f"q = {a.q:g}, depth 2, square widths n, unbalanced N(0, 1/n) weights, float64")
    print("\nagainst the dense map-space path (eigh of the n^2 x n^2 kernel)")
    print(f"{'n':>5} {'S':>6} {'depth2 [s]':>11} {'dense [s]':>10} {'ratio':>8} "
          f"{'max rel diff':>13}")
    for n in a.compare:
        for whitened in (True, False):
            net, task = case(n, whitened, a.seed)
            v, t_fast = best_time(lambda net=net, task=task: velocity(fast, net, task),
                                  repeats=5)
            w, t_dense = best_time(lambda net=net, task=task: velocity(dense, net, task),
                                   repeats=3, budget=2.0)
            diff = float(np.abs(v - w).max() / np.abs(w).max())
            print(f"{n:5d} {'I' if whitened else 'SPD':>6} {t_fast:11.5f} {t_dense:10.4f} "
                  f"{t_dense / t_fast:7.0f}x {diff:13.1e}", flush=True)
    print("\nalone, in units of one eigh of an n x n matrix (same run)")
    print(f"{'n':>5} {'S':>6} {'depth2 [s]':>11} {'eigh(n) [s]':>12} {'eighs':>8} "
          f"{'/ n eighs':>10}")
    for n in a.alone:
        te = eigh_time(n, a.seed)
        for whitened in (True, False):
            if not whitened and n > a.max_general:
                gib = 2 * n**3 * 8 / 2**30
                print(f"{n:5d} {'SPD':>6} {'skipped':>11}   (n blocks of n x n and their "
                      f"eigenvectors: {gib:.0f} GiB)", flush=True)
                continue
            net, task = case(n, whitened, a.seed)
            _, t = best_time(lambda net=net, task=task: velocity(fast, net, task),
                             repeats=3, budget=10.0)
            print(f"{n:5d} {'I' if whitened else 'SPD':>6} {t:11.4f} {te:12.5f} "
                  f"{t / te:8.1f} {t / (n * te):10.2f}", flush=True)


if __name__ == "__main__":
    main()
