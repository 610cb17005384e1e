"""Ensemble throughput: a loop of numpy runs against batched numpy, torch CPU and torch CUDA.

    python benchmarks/bench_ensemble.py [--members 1024] [--n 16] [--depth 4] [--q 2]
                                        [--steps 100] [--loop-members 32] [--no-cpu]
                                        [--json PATH]

The issue's configuration is the default: 1024 networks of widths (16, 16, 16, 16, 16) under
sqrt-NGD (q = 2, dense map-space kernel, 256 x 256 per member), 100 discrete steps each, on a
teacher-student task, seeds 0..1023. Throughput is member-steps per second. The reference is
the obvious loop, ``dlnsim.simulate(method="discrete")`` one network after another; it is timed
on the first ``--loop-members`` networks (its cost is linear in the members) and every batched
run is compared with it on those members (max relative difference of the final weights).
All rows are measured in one run; ratios are against the loop. ``--no-cpu`` skips the batched
CPU rows (they take as long as the loop on a 2-core machine at the full size).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import dlnsim
from dlnsim import Network, Task, rules
from dlnsim.backends import torch as torch_backend


def _final_flat(weights_last) -> np.ndarray:
    return np.concatenate([w.reshape(w.shape[0], -1) for w in weights_last], axis=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", type=int, default=1024)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--q", type=float, default=2.0)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--loop-members", type=int, default=32)
    p.add_argument("--no-cpu", action="store_true", help="skip batched numpy and torch CPU")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    a = p.parse_args()

    widths = (a.n,) * (a.depth + 1)
    task = Task.teacher_student(n=a.n, rank=3, noise=0.1, seed=0)
    nets = [Network.random(widths, scale=a.n ** -0.5, seed=s) for s in range(a.members)]
    rule = rules.ngd(a.q)
    t = np.array([0, a.steps])
    loop_n = min(a.loop_members, a.members)
    print(f"{a.members} networks, widths {widths}, {rule.name}, {a.steps} discrete steps, "
          f"lr {a.lr:g}, float64")

    t0 = time.perf_counter()
    loop = [dlnsim.simulate(n, task, rule, t, lr=a.lr, method="discrete", quiet=True)
            for n in nets[:loop_n]]
    loop_s = time.perf_counter() - t0
    assert all(tr.success for tr in loop)
    ref = _final_flat([np.stack([tr.weights[i][-1] for tr in loop])
                       for i in range(a.depth)])
    loop_rate = loop_n * a.steps / loop_s
    rows = [("numpy, loop of simulate()", loop_n, loop_s, loop_rate, 0.0)]

    runs = []
    if not a.no_cpu:
        runs.append(("numpy, batched", "numpy", None))
        if torch_backend.available():
            runs.append(("torch CPU, batched", "torch", "cpu"))
    if torch_backend.cuda_available():
        runs.append(("torch CUDA, batched", "torch", "cuda"))
    for label, backend, device in runs:
        if device == "cuda":  # warm-up: CUDA context and kernels, excluded from the timing
            dlnsim.simulate_ensemble(nets[:2], task, rule, np.array([0, 1]), lr=a.lr,
                                     method="discrete", quiet=True, backend=backend,
                                     device=device)
        t0 = time.perf_counter()
        ens = dlnsim.simulate_ensemble(nets, task, rule, t, lr=a.lr, method="discrete",
                                       quiet=True, backend=backend, device=device)
        seconds = time.perf_counter() - t0
        assert ens.success, set(ens.message)
        got = _final_flat([w[:loop_n, -1] for w in ens.weights])
        diff = float(np.max(np.linalg.norm(got - ref, axis=1) / np.linalg.norm(ref, axis=1)))
        rows.append((label, a.members, seconds, a.members * a.steps / seconds, diff))

    print(f"{'run':<28} {'members':>8} {'seconds':>9} {'member-steps/s':>15} "
          f"{'vs loop':>8} {'max rel diff':>13}")
    for label, members, seconds, rate, diff in rows:
        print(f"{label:<28} {members:>8} {seconds:9.2f} {rate:15.1f} {rate / loop_rate:7.2f}x "
              f"{diff:13.1e}")
    if not torch_backend.cuda_available():
        print("torch CUDA: not run (torch sees no GPU on this machine)")
    if a.json:
        from dlnsim._io import write_json

        write_json({"config": vars(a), "cuda": torch_backend.cuda_available(),
                    "rows": [{"run": label, "members": members, "seconds": seconds,
                              "member_steps_per_s": rate, "vs_loop": rate / loop_rate,
                              "max_rel_diff": diff}
                             for label, members, seconds, rate, diff in rows]}, a.json)


if __name__ == "__main__":
    main()
