"""Exact q-NGD direction at widths 32-512 per path, in one run.

    python benchmarks/bench_scale.py [--q 2] [--depth 4] [--widths 32 64 128 256 512]

Table 1, balanced networks (c_i = 0, built on a random matrix's SVD, singular values of the map
over three decades, whitened inputs): the balanced one-SVD path, O(d n^3), against the dense
map-space path, O(n^6), run up to --max-dense.
Table 2, nearly balanced networks (the same, each weight entry perturbed by 1e-4 relative): the
preconditioned Krylov path (tol 1e-9) against the dense path where it runs and against a Krylov
run at tol 1e-12 elsewhere; shifts, CG iterations and kernel products.
Table 3, strongly unbalanced networks (i.i.d. N(0, 1/n) entries): Krylov iterations and accuracy.
Last, a full simulate run (loss down 100-fold) at n = 128 from balanced init (auto path).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _timing import best_time  # benchmarks/ is on sys.path when run as a script

from dlnsim import Network, Task, curvature, rules, simulate
from dlnsim.curvature import krylov


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
    krylov_tables(a)
    simulate_run(a)


def krylov_tables(a) -> None:
    for kind in ("nearly balanced (1e-4)", "strongly unbalanced"):
        print(f"\nKrylov path, {kind}, q = {a.q:g}, d = {a.depth}")
        print(f"{'n':>4} {'krylov [s]':>11} {'shifts':>7} {'CG its':>7} {'K products':>11} "
              f"{'rel err':>9}  reference")
        for n in a.widths:
            if kind.startswith("strongly") and n > 64:
                continue
            rng = np.random.default_rng(n)
            if kind.startswith("nearly"):
                net = Network.aligned(rng.standard_normal((n, n)), np.geomspace(1.0, 1e-3, n),
                                      widths=(n,) * (a.depth + 1), seed=n)
                net = Network([w * (1 + 1e-4 * rng.standard_normal(w.shape))
                               for w in net.weights])
            else:
                net = Network.random((n,) * (a.depth + 1), scale=1 / np.sqrt(n), seed=n)
            b = rng.standard_normal((n, n))
            try:
                (y, info), t_k = best_time(lambda net=net, b=b: krylov.inverse_power(
                    net, b, a.q, tol=1e-9, maxiter=2000), repeats=2, budget=1.0)
            except (krylov.NotConverged, ValueError) as exc:
                print(f"{n:4d} refused or failed: {exc}")
                continue
            if n <= a.max_dense:
                ref, how = curvature.map_kernel(net).inverse_power(b, a.q), "dense"
            else:
                ref, _ = krylov.inverse_power(net, b, a.q, tol=1e-12, maxiter=4000)
                how = "krylov tol 1e-12"
            err = np.linalg.norm(y - ref) / np.linalg.norm(ref)
            print(f"{n:4d} {t_k:11.3f} {info.shifts:7d} {info.iterations:7d} "
                  f"{info.matvecs:11d} {err:9.1e}  {how}", flush=True)


def simulate_run(a) -> None:
    n = 128
    rng = np.random.default_rng(0)
    task = Task.teacher_student(n=n, rank=8, noise=0.05, seed=0)
    net = Network.aligned(rng.standard_normal((n, n)), np.full(n, 1e-3),
                          widths=(n,) * (a.depth + 1), seed=1)
    t0 = time.perf_counter()
    traj = simulate(net, task, rules.ngd(a.q), np.linspace(0, 10, 11), quiet=True)
    dt = time.perf_counter() - t0
    drop = (traj.loss[0] - task.loss_offset) / (traj.loss[-1] - task.loss_offset)
    print(f"\nsimulate n = {n}, d = {a.depth}, q = {a.q:g}, balanced init, t in [0, 10]: "
          f"{dt:.2f} s, {traj.nfev} field evaluations, loss (above its floor) down "
          f"{drop:.0f}x, status {traj.status}")


if __name__ == "__main__":
    main()
