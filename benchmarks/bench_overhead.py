"""Per-evaluation overhead of ``simulate``'s numpy path against the bare vector field.

    python benchmarks/bench_overhead.py [--steps 2000]

Each row times one field evaluation inside ``dlnsim.simulate`` (discrete steps, and the scipy
DOP853 path per evaluation, ``traj.nfev``) and the same field written out by hand in plain numpy
in this file (partial products, the gradient, and for sqrt-NGD the dense map-space kernel and its
``eigh``), timed in the same run. The ratio is dlnsim's time over the bare field's: 1.0 means no
overhead. The hand-written field is checked against ``rule.velocity`` before timing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dlnsim import Network, Task, rules, simulate


def _bare_field(widths, target, q):
    """The velocity of GD (q = inf) or dense q-NGD, S = I, in plain numpy on a flat vector."""
    sizes = [widths[i + 1] * widths[i] for i in range(len(widths) - 1)]
    d = len(sizes)

    def field(theta):
        ws, k = [], 0
        for i, s in enumerate(sizes):
            ws.append(theta[k:k + s].reshape(widths[i + 1], widths[i]))
            k += s
        below = [np.eye(widths[0])]
        for w in ws[:-1]:
            below.append(w @ below[-1])
        above = [np.eye(widths[-1])]
        for w in ws[:0:-1]:
            above.append(above[-1] @ w)
        above = above[::-1]
        y = ws[-1] @ below[-1] - target
        if q != np.inf:
            kern = sum(np.kron(a @ a.T, b.T @ b) for a, b in zip(above, below))
            e, u = np.linalg.eigh(0.5 * (kern + kern.T))
            keep = e > 1e-12 * e.max()
            f = np.where(keep, np.where(keep, e, 1.0) ** (-1 / q), 0.0)
            y = (u @ (f * (u.T @ y.ravel()))).reshape(y.shape)
        return -np.concatenate([(a.T @ y @ b.T).ravel() for a, b in zip(above, below)])

    return field, d


def _time(fn, repeats: int = 3) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    a = p.parse_args()
    print(f"{'widths':<16} {'rule':<10} {'path':<12} {'dlnsim us/eval':>15} "
          f"{'bare us/eval':>13} {'ratio':>7}")
    for widths, steps in (((4, 4, 4), a.steps), ((16,) * 5, max(a.steps // 40, 20))):
        task = Task.teacher_student(n=widths[0], n_out=widths[-1], rank=2, seed=0)
        net = Network.random(widths, scale=0.3, seed=1)
        for q, rule in ((np.inf, rules.gd()), (2.0, rules.ngd(2, path="dense"))):
            field, _ = _bare_field(widths, task.target, q)
            theta = net.flat()
            want = np.concatenate([v.ravel() for v in rule.velocity(net, task)])
            assert np.allclose(field(theta), want, rtol=1e-9, atol=1e-12)

            def bare(n=steps, theta=theta, field=field):
                th = theta.copy()
                for _ in range(n):
                    th = th + 0.01 * field(th)

            def disc(net=net, task=task, rule=rule, steps=steps):
                simulate(net, task, rule, [0, steps], lr=0.01, method="discrete", quiet=True)

            runs = {}

            def ode(net=net, task=task, rule=rule, runs=runs):
                runs["traj"] = simulate(net, task, rule, [0.0, 0.5], quiet=True)

            t_bare = _time(bare) / steps
            t_disc = _time(disc) / steps
            t_ode = _time(ode) / max(runs["traj"].nfev, 1)
            name = "gd" if q == np.inf else "ngd(q=2)"
            for path, t in (("discrete", t_disc), ("ode:DOP853", t_ode)):
                print(f"{str(widths):<16} {name:<10} {path:<12} {t * 1e6:15.1f} "
                      f"{t_bare * 1e6:13.1f} {t / t_bare:7.2f}")


if __name__ == "__main__":
    main()
