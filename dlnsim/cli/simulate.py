"""``dlnsim simulate``: train a deep linear network on a teacher-student task."""

from __future__ import annotations

import sys

import numpy as np

from dlnsim.cli.args import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    add_rule_flags,
    count,
    number,
    path,
    rule_from_flags,
    widths,
)


def add(sub, common) -> None:
    s = sub.add_parser("simulate", parents=[common],
                       help="train a deep linear network on a teacher-student task")
    s.add_argument("--widths", type=widths, default=(8, 8, 8, 8),
                   help="layer widths n_0,...,n_d, input first (default 8,8,8,8)")
    add_rule_flags(s)
    s.add_argument("--lr", type=number("a number > 0", 0.0, strict=True), default=1.0,
                   help="learning rate (default 1)")
    s.add_argument("--t-end", type=number("a number > 0", 0.0, strict=True), default=20.0,
                   help="final time (default 20)")
    s.add_argument("--points", type=count("an integer >= 2", 2), default=7,
                   help="number of save times (default 7)")
    s.add_argument("--scale", type=number("a number > 0", 0.0, strict=True), default=0.1,
                   help="init weight scale (default 0.1)")
    s.add_argument("--rank", type=count("an integer >= 1", 1), default=3,
                   help="teacher rank (default 3)")
    s.add_argument("--noise", type=number("a number >= 0", 0.0), default=0.1,
                   help="label noise (default 0.1)")
    s.add_argument("--seed", type=count("an integer >= 0", 0), default=0,
                   help="random seed (default 0)")
    s.add_argument("--method", choices=("ode", "discrete"), default="ode",
                   help="ode: the flow, integrated by --solver; discrete: steps of size lr "
                        "(default ode)")
    s.add_argument("--solver", default=None,
                   help="ODE solver: DOP853 (numpy default), RK45, Radau, LSODA, dopri5, ...")
    s.add_argument("--backend", choices=("numpy", "torch"), default="numpy",
                   help="numpy (scipy DOP853, default) or torch (batched dopri5)")
    s.add_argument("--device", default=None, help="torch device: cpu (default) or cuda")
    s.add_argument("--max-memory", type=number("a number of GiB > 0", 0.0, strict=True),
                   default=2.0, help="refuse runs whose results exceed this (GiB, default 2)")
    s.add_argument("--max-seconds", type=number("a number of seconds > 0", 0.0, strict=True),
                   default=600.0, help="stop a run that takes longer than this, or that is "
                   "predicted to take more than twice it, keeping what it saved (default 600)")
    s.add_argument("--out", default=None, type=path, help="save the trajectory as .npz")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(run=run)


def run(a) -> int:
    from dlnsim import Limits, Status, simulate
    from dlnsim._io import check_output_file
    from dlnsim.network import Network
    from dlnsim.solve import check_memory, memory_estimate
    from dlnsim.task import Task

    w = a.widths
    limits = Limits(max_memory=a.max_memory * 2**30, max_seconds=a.max_seconds)
    params = sum(w[i] * w[i + 1] for i in range(len(w) - 1))
    advice = "use smaller --widths or fewer --points, or raise --max-memory"
    check_memory(memory_estimate(1, 1, params), limits, "--widths", advice)
    check_memory(memory_estimate(a.points, 1, params, w[0] * w[-1]
                                 + sum(n * n for n in w[1:-1])), limits, "--points", advice)
    if a.out:
        check_output_file(a.out, "--out")
    task = Task.teacher_student(n=w[0], n_out=w[-1], rank=a.rank, noise=a.noise, seed=a.seed)
    net = Network.random(w, scale=a.scale, seed=a.seed + 1)
    if a.method == "discrete":
        t = np.unique(np.linspace(0, a.t_end, a.points).round().astype(int))
    else:
        t = np.linspace(0.0, a.t_end, a.points)
    traj = simulate(net, task, rule_from_flags(a), t, lr=a.lr, method=a.method,
                    solver=a.solver, quiet=a.quiet, backend=a.backend, device=a.device,
                    limits=limits)
    print(f"rule: {traj.rule}   widths: {w}   lr: {a.lr:g}   method: {traj.method}")
    print(f"{'t':>10} {'train loss':>12} {'test loss':>12} {'max|c_i - c_i(0)|':>18}")
    for k, tk in enumerate(traj.t):
        drift = max((float(np.abs(c[k] - c[0]).max()) for c in traj.imbalance), default=0.0)
        print(f"{tk:10.4g} {traj.loss[k]:12.6g} {traj.test_loss[k]:12.6g} {drift:18.3e}")
    print(f"status {int(traj.status)}: {traj.message}")
    if a.out:
        traj.save(a.out)
        print(f"saved {a.out}" + (f" ({len(traj.t)} of {len(t)} save points)"
                                  if len(traj.t) < len(t) else ""))
    if traj.status == Status.INTERRUPTED:
        print(f"dlnsim: interrupted; {len(traj.t)} of {len(t)} save points kept"
              + (f" in {a.out}" if a.out else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if traj.success else EXIT_FAILED
