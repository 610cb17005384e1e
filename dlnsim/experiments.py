"""Named experiments shared by the claim checks and the figures (one definition each)."""

from __future__ import annotations

import functools

import numpy as np

from dlnsim import rules
from dlnsim.integrate import simulate
from dlnsim.network import Network
from dlnsim.task import Task

TEACHER_DT = 0.05  # discrete step (learning rate); paper's rules in discrete time


@functools.lru_cache(maxsize=3)
def teacher_student_runs(dt: float = TEACHER_DT, horizons: tuple = ()) -> dict:
    """Section 6: d = 4, N = 16, rank-3 teacher, P = N, small random init (entries 0.02 N(0,1)).

    Discrete steps of size ``dt`` (0.05; the claims also run 0.025 to separate what the steps
    do from what the rules do); horizons per rule cover its signal and noise time-scales
    (``horizons``, pairs ``(rule name, horizon)``, shortens them), saved every 0.25 time
    units. NGD and NGD-d use LM damping 1e-5 and update-speed clipping at 1 as in the paper.
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
        horizon = min(horizon, dict(horizons).get(name, horizon))
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


# A (depth, q) grid of full-matrix runs from balanced starts aligned with a one-mode target,
# where the balanced map ODE (eq 17) is exact: measured half-max times against the closed form
# (figure phase_diagram, claim huh.timescale.grid). 101 save points keep the linear
# interpolation of the crossing time near 3e-4 relative (the dopri5 runs step to every save
# point, so the points set the cost: 201 halve the error and double the time).
PHASE_DIAGRAM_SPEC = {
    "name": "half-max time over (depth, q)",
    "task": {"kind": "target", "singular_values": [1.0], "n": 3},
    "grid": {"q": [1.0, 1.5, 2.0, 3.0, float("inf")], "depth": [2, 3, 4], "width": [3],
             "seeds": 1},
    "init": {"kind": "aligned", "strength": 0.05},
    "time": {"t_end": 5.0, "points": 101, "rtol": 1e-8, "atol": 1e-12, "chunk_size": 5},
}


@functools.lru_cache(maxsize=1)
def phase_diagram_sweep():
    """:data:`PHASE_DIAGRAM_SPEC` run in this process (a temporary folder) as a Dataset."""
    import tempfile

    from dlnsim import sweep
    from dlnsim.sweep.engine import InlineExecutor

    with tempfile.TemporaryDirectory() as out:
        return sweep.run(PHASE_DIAGRAM_SPEC, out, executor=InlineExecutor())


def phase_diagram(ds, mode: int = 0) -> dict:
    """Half-max learning times of ``mode`` over a sweep's (depth, q) grid: measured on the
    full-matrix runs (mean over seeds; other axes at their first value) and by
    :func:`dlnsim.symbolic.half_max_time` from the sweep's aligned start.

    A sweep of ODE runs from an aligned start gets the closed form (eq 17 is exact there);
    any other sweep (random starts, discrete steps) gets the measured half-loss times alone,
    with ``closed`` and ``ratio`` None."""
    from dlnsim import symbolic
    from dlnsim.sweep.chunk import crossing_time

    for axis in ("depth", "q"):
        if ds.sizes[axis] < 2:
            raise ValueError(f"a phase diagram needs at least two values of {axis}")
    sel = {a: 0 for a in ("block_diagonal", "damping", "weight_decay", "l2", "clip", "width",
                          "scale", "lr")}
    sub = ds.isel(sel)
    if ds.attrs.get("init_kind") != "aligned" or ds.attrs.get("method") != "ode":
        # no closed form: the time the loss takes to halve, as the sweep measured it
        halves = sub.half_loss_time.transpose("depth", "q", "seed").values
        return {"depth": sub.depth.values, "q": sub.q.values,
                "measured": np.nanmean(halves, axis=-1) if np.isfinite(halves).any()
                else np.full(halves.shape[:2], np.nan),
                "closed": None, "ratio": None, "lr": float(sub.lr),
                "quantity": "half_loss_time"}
    s_star = float(ds.target_singular_value[mode])
    s0, lr = float(ds.attrs["init_strength"]), float(sub.lr)
    depths, qs = sub.depth.values, sub.q.values
    t = sub.time.values
    measured = np.full((len(depths), len(qs)), np.nan)
    closed = np.full_like(measured, np.nan)
    for i, d in enumerate(depths):
        for j, q in enumerate(qs):
            x = sub.mode_strength.sel(depth=d, q=q).isel(mode=mode).values  # (seed, time)
            measured[i, j] = np.mean([crossing_time(t, xs, s_star / 2) for xs in x])
            closed[i, j] = symbolic.half_max_time(int(d), float(q), s_star, lr=lr, init=s0)
    return {"depth": depths, "q": qs, "measured": measured, "closed": closed,
            "ratio": measured / closed, "s_star": s_star, "init": s0, "lr": lr,
            "quantity": "half_max_time"}
