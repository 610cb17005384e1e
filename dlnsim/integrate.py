"""``simulate`` and ``simulate_ensemble``: full-matrix learning dynamics under a rule.

``simulate`` runs one network with scipy's solvers (numpy) or dlnsim's batched ones (either
backend); ``simulate_ensemble`` runs many at once on numpy or torch (CPU/GPU), batched over a
leading ensemble dimension. Both evaluate the same vector field, :meth:`Rule.stack_velocity`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlnsim import _batched_ode, _ode, backends
from dlnsim import _validate as V
from dlnsim.network import Network, unflatten
from dlnsim.rules import Rule, Stack
from dlnsim.task import Task
from dlnsim.trajectory import Ensemble, Trajectory, from_weights

BATCHED_SOLVERS = _batched_ode.SOLVERS


def simulate(
    net: Network,
    task: Task,
    rule: Rule,
    t,
    lr: float = 1.0,
    method: str = "ode",
    solver: str | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    max_norm: float = 1e8,
    max_steps: int = 1_000_000,
    min_step: float = 1e-6,
    quiet: bool = False,
    backend: str = "numpy",
    device: str | None = None,
    dt: float | None = None,
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
        ODE runs only. A ``scipy.integrate`` one-step method (``"DOP853"``, the numpy default,
        ``"RK45"``, ``"Radau"``, ...; numpy backend), or dlnsim's batched ``"dopri5"``
        (Dormand-Prince 5(4), the torch default) or fixed-step ``"rk4"`` (needs ``dt``), which
        run on either backend. The default tolerances keep the global error near 1e-10 relative.
    max_norm
        The run stops with status 1 ("diverged") when ``||w||`` exceeds this.
    max_steps
        Cap on accepted ODE steps (status -1 when hit).
    min_step
        The run stops with status -1 when 2000 consecutive accepted steps advance time by less
        than ``min_step * (t[-1] - t[0])`` (a singular or discontinuous vector field).
    quiet
        Hide the progress bar.
    backend, device
        ``"numpy"`` or ``"torch"`` (float64 tensors on ``device``: ``"cpu"``, ``"cuda"``).
    dt
        Step size of ``solver="rk4"``.

    Returns
    -------
    Trajectory
        With ``status``/``message`` like ``solve_ivp``; a diverged run keeps its good prefix and
        never returns NaNs.
    """
    _check_run(net, task, rule)
    lr = V.positive(lr, "lr")
    max_norm = V.positive(max_norm, "max_norm")
    if method not in ("ode", "discrete"):
        raise ValueError(f"method must be 'ode' or 'discrete', got {method!r}")
    be = backends.get(backend, device)
    if solver is None:
        solver = "DOP853" if be.name == "numpy" else "dopri5"
    if be.name != "numpy" or (method == "ode" and solver in BATCHED_SOLVERS):
        ens = simulate_ensemble([net], task, rule, t, lr, method, solver, rtol, atol, max_norm,
                                max_steps, min_step, quiet, backend, device, dt)
        return ens.member(0)
    widths = net.widths

    def velocity(theta: np.ndarray) -> np.ndarray:
        v = rule.velocity(Network(unflatten(theta, widths)), task)
        return lr * np.concatenate([x.ravel() for x in v])

    if method == "ode":
        rtol, atol = _ode.check_solver_options(solver, rtol, atol)
        grid = V.time_grid(t)
        res = _ode.ode(lambda _t, y: velocity(y), net.flat(), grid, solver, rtol, atol,
                       max_norm, V.positive_int(max_steps, "max_steps"), quiet, desc=rule.name,
                       min_step=V.positive(min_step, "min_step"))
    else:
        grid = _ode.step_grid(t)
        res = _ode.discrete(velocity, net.flat(), grid, max_norm, quiet, desc=rule.name)
    return from_weights(
        res.t, [unflatten(y, widths) for y in res.y], task, res.status, res.message,
        method=method if method == "discrete" else f"ode:{solver}", rule=rule.name, lr=lr,
        nfev=res.nfev,
    )


def simulate_ensemble(
    nets: Sequence[Network],
    task: Task | Sequence[Task],
    rule: Rule | Sequence[Rule],
    t,
    lr=1.0,
    method: str = "ode",
    solver: str = "dopri5",
    rtol: float = 1e-10,
    atol: float = 1e-12,
    max_norm: float = 1e8,
    max_steps: int = 1_000_000,
    min_step: float = 1e-6,
    quiet: bool = False,
    backend: str = "numpy",
    device: str | None = None,
    dt: float | None = None,
) -> Ensemble:
    """Run ``B`` networks at once, batched over a leading ensemble dimension.

    Every member follows exactly the run it would have alone: the ODE solvers keep a step
    size, an error norm and a status per member, and a member that diverges stops without
    stopping the others.

    Parameters
    ----------
    nets
        ``B`` networks of equal widths (e.g. many seeds).
    task
        One task for all, or one per member (equal shapes).
    rule
        One rule for all, or one per member (e.g. several ``q``); members that share a rule
        object are integrated together.
    lr
        One learning rate, or one per member.
    solver
        ``"dopri5"`` (adaptive, ``rtol``/``atol``) or ``"rk4"`` (fixed step ``dt``); ignored
        for ``method="discrete"``.
    backend, device
        ``"numpy"`` (arrays on the host) or ``"torch"`` (float64 tensors on ``device``).
    Other arguments are as in :func:`simulate`.
    """
    if isinstance(nets, Network) or isinstance(nets, (str, bytes)) \
            or not isinstance(nets, Sequence):
        raise TypeError("nets must be a sequence of dlnsim.Network")
    if len(nets) == 0:
        raise ValueError("nets must hold at least one network")
    b = len(nets)
    tasks = _per_member(task, b, Task, "task")
    rules_ = _per_member(rule, b, Rule, "rule")
    for i, (n, tk, r) in enumerate(zip(nets, tasks, rules_)):
        _check_run(n, tk, r, f"[{i}]")
        if n.widths != nets[0].widths:
            raise ValueError(f"nets[{i}] has widths {n.widths}, nets[0] has {nets[0].widths}; "
                             "an ensemble needs equal widths")
    lrs = np.broadcast_to(np.asarray(lr, dtype=float), (b,)) if np.ndim(lr) == 0 \
        else np.asarray(lr, dtype=float)
    if lrs.shape != (b,):
        raise ValueError(f"lr must be a number or hold one value per network ({b}), got shape "
                         f"{lrs.shape}")
    for x in lrs:
        V.positive(float(x), "lr")
    be = backends.get(backend, device)
    opts = _batched_ode.Options.checked(method, solver, t, rtol, atol, dt, max_norm, max_steps,
                                        min_step)
    grid = opts.t

    widths = nets[0].widths
    flat0 = np.stack([n.flat() for n in nets])
    out = [None] * len(grid)
    saved = np.zeros(b, dtype=np.int64)
    status = np.zeros(b, dtype=np.int64)
    message = [""] * b
    nfev = 0
    groups: dict[int, list[int]] = {}
    for i, r in enumerate(rules_):
        groups.setdefault(id(r), []).append(i)
    for members in groups.values():
        r = rules_[members[0]]
        stack = Stack.from_tasks([tasks[i] for i in members], be.asarray)
        lr_b = be.asarray(lrs[members])
        field = be.guard(_stack_field(r, stack, lr_b, widths))
        y0 = be.asarray(flat0[members])
        desc = r.name if len(groups) == 1 else f"{r.name} ({len(members)})"
        res = _batched_ode.solve(field, y0, opts, quiet, desc)
        for k, y in enumerate(res.y):
            if out[k] is None:
                out[k] = np.zeros((b, flat0.shape[1]))
            out[k][members] = be.to_numpy(y)
        saved[members], status[members] = res.saved, res.status
        for j, i in enumerate(members):
            message[i] = res.message[j]
        nfev += res.nfev
    weights = unflatten(np.stack(out, axis=1), widths)  # (B, T, P) -> (B, T, n_{i+1}, n_i)
    maps = weights[0]
    for w in weights[1:]:
        maps = w @ maps
    loss = np.array([[tasks[i].loss(maps[i, k]) for k in range(len(grid))] for i in range(b)])
    return Ensemble(
        t=np.asarray(grid, dtype=float), weights=weights, map=maps, loss=loss, saved=saved,
        status=status, message=tuple(message), tasks=tuple(tasks),
        rule=tuple(r.name for r in rules_), lr=np.array(lrs),
        method=opts.label, backend=str(be),
        nfev=nfev,
    )


def _stack_field(rule: Rule, stack: Stack, lr, widths):
    """``field(y, idx)``: the rule's velocity for the members ``idx`` with flat states ``y``."""
    sizes = [widths[i + 1] * widths[i] for i in range(len(widths) - 1)]

    def field(y, idx):
        xp = stack.xp
        ws, k = [], 0
        for i, size in enumerate(sizes):
            ws.append(xp.reshape(y[:, k:k + size], (y.shape[0], widths[i + 1], widths[i])))
            k += size
        v = rule.stack_velocity(stack.take(idx, ws))
        flat = xp.concat([xp.reshape(x, (y.shape[0], -1)) for x in v], axis=1)
        return lr[idx][:, None] * flat

    return field


def _per_member(x, b: int, kind: type, name: str) -> list:
    if isinstance(x, kind):
        return [x] * b
    if isinstance(x, (str, bytes)) or not isinstance(x, Sequence):
        raise TypeError(f"{name} must be a {kind.__name__} or a sequence of them, got "
                        f"{type(x).__name__}")
    if len(x) != b:
        raise ValueError(f"{name} must hold one {kind.__name__} per network ({b}), got {len(x)}")
    for i, item in enumerate(x):
        if not isinstance(item, kind):
            raise TypeError(f"{name}[{i}] must be a {kind.__name__}, got {type(item).__name__}")
    return list(x)


def _check_run(net, task, rule, where: str = "") -> None:
    if not isinstance(net, Network):
        raise TypeError(f"net{where} must be a dlnsim.Network, got {type(net).__name__}")
    if not isinstance(task, Task):
        raise TypeError(f"task{where} must be a dlnsim.Task, got {type(task).__name__}")
    if not isinstance(rule, Rule):
        raise TypeError(f"rule{where} must be a dlnsim.rules.Rule, got {type(rule).__name__}")
    if net.map.shape != task.target.shape:
        raise ValueError(f"task{where}'s target has shape {task.target.shape} but the "
                         f"network's map has shape {net.map.shape}")


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
