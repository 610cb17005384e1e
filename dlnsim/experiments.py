"""Named experiments shared by the claim checks and the figures (one definition each)."""

from __future__ import annotations

import functools

import numpy as np

from dlnsim import rules
from dlnsim.integrate import simulate
from dlnsim.network import Network
from dlnsim.task import Task

TEACHER_DT = 0.05  # discrete step (learning rate); paper's rules in discrete time


@functools.lru_cache(maxsize=2)
def teacher_student_runs(dt: float = TEACHER_DT) -> dict:
    """Section 6: d = 4, N = 16, rank-3 teacher, P = N, small random init (entries 0.02 N(0,1)).

    Discrete steps of size ``dt`` (0.05; the claims also run 0.025 to separate what the steps
    do from what the rules do); horizons per rule cover its signal and noise time-scales, saved
    every 0.25 time units. NGD and NGD-d use LM damping 1e-5 and update-speed clipping at 1 as
    in the paper.
    """
    task = Task.teacher_student(n=16, rank=3, samples=16, noise=0.1, seed=0)
    net = Network.random((16,) * 5, scale=0.02, seed=1)
    specs = {
        "SGD": (rules.gd(), 150.0),
        "NGD": (rules.chain(rules.ngd(1.0, damping=1e-5), rules.clip(1.0)), 10.0),
        "sqrt-NGD": (rules.ngd(2.0), 30.0),
        "NGD-d": (rules.chain(rules.ngd(1.0, damping=1e-5, block_diagonal=True),
                              rules.clip(1.0)), 10.0),
        "sqrt-NGD-d": (rules.ngd(2.0, block_diagonal=True), 30.0),
    }
    every = int(round(0.25 / dt))
    out = {}
    for name, (rule, horizon) in specs.items():
        steps = np.arange(0, int(round(horizon / dt)) + 1, every)
        out[name] = simulate(net, task, rule, steps, lr=dt, method="discrete", quiet=True)
    return {"task": task, "runs": out, "dt": dt}


def half_max_times(traj, s_star: np.ndarray, dt: float = 1.0) -> np.ndarray:
    """First time each target mode's strength reaches half its target (inf if never).

    ``dt`` converts the trajectory's times (step numbers for discrete runs) to time.
    """
    t = traj.t * dt
    hit = traj.mode_strengths >= s_star / 2
    return np.array([t[np.argmax(hit[:, k])] if hit[:, k].any() else np.inf
                     for k in range(s_star.size)])
