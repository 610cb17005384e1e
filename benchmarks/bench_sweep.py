"""Sweep throughput with 1 and 2 local workers, and the sweep's overhead against one
``simulate_ensemble`` call over the same members in one process.

    python benchmarks/bench_sweep.py [--seeds 32] [--chunk-size 4] [--steps 800]

The members: a teacher-student task (n = 10, rank 3), depth-3 networks of width 10 from
``--seeds`` random starts under sqrt-NGD, ``--steps`` discrete steps (so a member-step is
one well-defined unit of work). Every process here, the reference included, uses one BLAS
thread (set below before numpy loads), as each sweep worker does, so the comparison is of
the sweep machinery alone. Reported: seconds, member-steps/s, the 1-worker sweep's overhead
over the reference (goal < 10% for chunks of a few seconds), the 2-worker speed-up over 1
worker (goal >= 1.7x on 2 cores), and that all three give the same numbers bit for bit.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from dlnsim import simulate_ensemble, sweep  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=32)
    p.add_argument("--chunk-size", type=int, default=4)
    p.add_argument("--steps", type=int, default=800)
    a = p.parse_args()
    spec = sweep.read({
        "task": {"kind": "teacher_student", "n": 10, "rank": 3, "noise": 0.1},
        "grid": {"q": [2.0], "depth": [3], "width": [10], "lr": [0.05], "seeds": a.seeds},
        "time": {"method": "discrete", "t_end": a.steps, "points": 21,
                 "chunk_size": a.chunk_size}})
    work = spec.size * a.steps
    task = spec.make_task()
    points = [spec.point(m) for m in range(spec.size)]
    nets = [spec.make_network(pt, task) for pt in points]
    rule = spec.make_rule(points[0])
    t0 = time.perf_counter()
    ref = simulate_ensemble(nets, task, rule, spec.times, lr=0.05, method="discrete",
                            quiet=True)
    t_ref = time.perf_counter() - t0
    print(f"{spec.size} members x {a.steps} steps, chunks of {a.chunk_size} "
          f"({len(spec.chunks())} chunks), one BLAS thread per process")
    print(f"{'run':<34} {'seconds':>8} {'member-steps/s':>15} {'vs reference':>13}")
    print(f"{'one simulate_ensemble call':<34} {t_ref:8.2f} {work / t_ref:15.0f} {'1.00x':>13}")
    times = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            ds = sweep.run(spec, out, workers=workers)
            times[workers] = time.perf_counter() - t0
        same = np.array_equal(ds.loss.values.reshape(spec.size, -1), ref.loss)
        print(f"{f'sweep, {workers} local worker(s)':<34} {times[workers]:8.2f} "
              f"{work / times[workers]:15.0f} {t_ref / times[workers]:12.2f}x"
              f"   {'bit-identical' if same else 'DIFFERS'}")
    print(f"overhead of the 1-worker sweep: {100 * (times[1] / t_ref - 1):.1f}% "
          f"(goal < 10%); 2 workers vs 1: {times[1] / times[2]:.2f}x (goal >= 1.7x)")


if __name__ == "__main__":
    main()
