"""``simulate``: full-matrix learning dynamics of a network under a rule."""

from __future__ import annotations

import numpy as np

from dlnsim import _ode
from dlnsim import _validate as V
from dlnsim.network import Network, unflatten
from dlnsim.rules import Rule
from dlnsim.task import Task
from dlnsim.trajectory import Trajectory, from_weights


def simulate(
    net: Network,
    task: Task,
    rule: Rule,
    t,
    lr: float = 1.0,
    method: str = "ode",
    solver: str = "DOP853",
    rtol: float = 1e-10,
    atol: float = 1e-12,
    max_norm: float = 1e8,
    max_steps: int = 1_000_000,
    min_step: float = 1e-6,
    quiet: bool = False,
) -> Trajectory:
    """Integrate ``dw/dt = lr * rule.velocity(w)`` (``method="ode"``) or iterate
    ``w <- w + lr * rule.velocity(w)`` (``method="discrete"``).

    Parameters
    ----------
    net, task, rule
        Initial network, task and update rule.
    t
        Save times, strictly increasing; ``t[0]`` is the time of ``net``. For discrete runs,
        integer step numbers.
    lr
        Learning rate ``eta > 0``.
    solver, rtol, atol
        A ``scipy.integrate`` one-step method (``"DOP853"``, ``"RK45"``, ``"Radau"``, ...) and its
        tolerances (ODE runs only). The defaults keep the global error near 1e-10 relative.
    max_norm
        The run stops with status 1 ("diverged") when ``||w||`` exceeds this.
    max_steps
        Cap on accepted ODE steps (status -1 when hit).
    min_step
        The run stops with status -1 when 2000 consecutive accepted steps advance time by less
        than ``min_step * (t[-1] - t[0])`` (a singular or discontinuous vector field).
    quiet
        Hide the progress bar.

    Returns
    -------
    Trajectory
        With ``status``/``message`` like ``solve_ivp``; a diverged run keeps its good prefix and
        never returns NaNs.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a dlnsim.Network, got {type(net).__name__}")
    if not isinstance(task, Task):
        raise TypeError(f"task must be a dlnsim.Task, got {type(task).__name__}")
    if not isinstance(rule, Rule):
        raise TypeError(f"rule must be a dlnsim.rules.Rule, got {type(rule).__name__}")
    if net.map.shape != task.target.shape:
        raise ValueError(f"task's target has shape {task.target.shape} but the network's map "
                         f"has shape {net.map.shape}")
    lr = V.positive(lr, "lr")
    max_norm = V.positive(max_norm, "max_norm")
    if method not in ("ode", "discrete"):
        raise ValueError(f"method must be 'ode' or 'discrete', got {method!r}")
    widths = net.widths

    def velocity(theta: np.ndarray) -> np.ndarray:
        v = rule.velocity(Network(unflatten(theta, widths)), task)
        return lr * np.concatenate([x.ravel() for x in v])

    if method == "ode":
        rtol, atol = _ode.check_solver_options(solver, rtol, atol)
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
        grid = V.time_grid(t)
        res = _ode.ode(lambda _t, y: velocity(y), net.flat(), grid, solver, rtol, atol,
                       max_norm, max_steps, quiet, desc=rule.name,
                       min_step=V.positive(min_step, "min_step"))
    else:
        grid = _ode.step_grid(t)
        res = _ode.discrete(velocity, net.flat(), grid, max_norm, quiet, desc=rule.name)
    return from_weights(
        res.t, [unflatten(y, widths) for y in res.y], task, res.status, res.message,
        method=method if method == "discrete" else f"ode:{solver}", rule=rule.name, lr=lr,
        nfev=res.nfev,
    )


def optimize(net: Network, task: Task, optimizer, steps: int, seed: int = 0,
             save_every: int = 1, max_norm: float = 1e8) -> Trajectory:
    """Train with a stateful discrete-time optimiser (K-FAC/TKFAC, HCGD, ...).

    ``optimizer`` provides ``name``, ``init(net, task) -> state`` and
    ``step(net, task, state, rng) -> (increment, state)``. Runs are reproducible bit for bit
    from ``seed``; a run whose state turns non-finite or exceeds ``max_norm`` stops with status
    1, one whose step raises an ``ArithmeticError`` (a failed inversion or solve) with -1.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a dlnsim.Network, got {type(net).__name__}")
    if not isinstance(task, Task):
        raise TypeError(f"task must be a dlnsim.Task, got {type(task).__name__}")
    for name, value in (("steps", steps), ("save_every", save_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    max_norm = V.positive(max_norm, "max_norm")
    rng = np.random.default_rng(seed)
    state = optimizer.init(net, task)
    saved, times = [net.weights], [0]
    status, message = 0, "reached the last save step"
    for k in range(1, steps + 1):
        try:
            delta, state = optimizer.step(net, task, state, rng)
        except (ArithmeticError, np.linalg.LinAlgError) as exc:
            status, message = -1, f"the optimiser's step failed at step {k}: {exc}"
            break
        new = [w + d for w, d in zip(net.weights, delta)]
        if not all(np.all(np.isfinite(w)) for w in new):
            status, message = 1, f"diverged: the state became non-finite at step {k}"
            break
        norm = float(np.sqrt(sum(np.sum(w * w) for w in new)))
        if norm > max_norm:
            status, message = 1, (f"diverged: state norm {norm:.3g} exceeded max_norm = "
                                  f"{max_norm:.3g} at step {k}")
            break
        net = Network(new)
        if k % save_every == 0 or k == steps:
            saved.append(net.weights)
            times.append(k)
    return from_weights(np.array(times), saved, task, status, message, method="discrete",
                        rule=optimizer.name, lr=float(getattr(optimizer, "lr", 1.0)))
