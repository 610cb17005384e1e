"""The measurement behind dlnsim's thread rule (``dlnsim.threads``): when do more BLAS
threads pay, idle and with one competing busy process?

    python benchmarks/bench_threads.py [--sizes 32 64 128 256 512 1024]

For each size n it times the two kinds of work that dominate dlnsim's hot loops, a symmetric
eigendecomposition (``numpy.linalg.eigh``: the dense map-space kernel, the block factors, the
depth-2 blocks) and a matrix product (partial products, Jacobian-vector products), with one
BLAS thread and with as many as this process may use, first on an idle machine and then while
one busy loop runs in another process. It prints the times and the ratio t(1 thread) /
t(all threads): above 1, threads pay; below 1, they cost. The rule written in
``dlnsim/threads.py`` (``MIN_PARALLEL_SIZE``) is the smallest size where threads pay idle and
cost little when loaded.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _load import busy  # noqa: E402


def _time(fn, budget: float = 0.6) -> float:
    """Median seconds of ``fn`` over repeats filling about ``budget`` seconds."""
    fn()
    times, spent = [], 0.0
    while spent < budget or len(times) < 3:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        times.append(dt)
        spent += dt
        if len(times) >= 200:
            break
    return float(np.median(times))


def measure(sizes, threads: int) -> dict:
    rng = np.random.default_rng(0)
    out = {}
    for n in sizes:
        a = rng.standard_normal((n, n))
        s = a @ a.T
        for name, fn in (("eigh", lambda s=s: np.linalg.eigh(s)),
                         ("matmul", lambda a=a: a @ a)):
            row = {}
            for k in (1, threads):
                with threadpool_limits(limits=k, user_api="blas"):
                    row[k] = _time(fn)
            out[name, n] = row
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256, 512, 1024])
    a = p.parse_args()
    from dlnsim.threads import MIN_PARALLEL_SIZE, available_cpus

    threads = available_cpus()
    if threads < 2:
        print("one CPU: nothing to compare")
        return
    idle = measure(a.sizes, threads)
    with busy(1):
        loaded = measure(a.sizes, threads)
    print(f"BLAS threads 1 vs {threads}; ratio = t(1) / t({threads}) (> 1: threads pay)")
    print(f"{'op':<7} {'n':>5}  {'idle t1 ms':>10} {'ratio':>6}  {'loaded t1 ms':>12} "
          f"{'ratio':>6}")
    for (name, n), row in idle.items():
        lrow = loaded[name, n]
        print(f"{name:<7} {n:>5}  {1e3 * row[1]:10.3f} {row[1] / row[threads]:6.2f}  "
              f"{1e3 * lrow[1]:12.3f} {lrow[1] / lrow[threads]:6.2f}")
    print(f"dlnsim's rule: {threads} threads for decompositions of size >= "
          f"{MIN_PARALLEL_SIZE}, else 1")


if __name__ == "__main__":
    main()
