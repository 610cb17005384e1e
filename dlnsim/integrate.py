"""``simulate`` and ``simulate_ensemble``: full-matrix learning dynamics under a rule.

Both build the rule's vector field on a :class:`~dlnsim.rules.Stack` once (tasks stacked once,
nothing validated or rebuilt per evaluation) and hand it to :func:`dlnsim.solve.solve`, which
owns the integration loop. A lone numpy run can use scipy's solvers; ensembles and the torch
backend use the batched ones (``dopri5``, ``rk4``) or discrete steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from dlnsim import _validate as V
from dlnsim import backends, threads
from dlnsim.network import Network, unflatten
from dlnsim.rules import Rule, Stack
from dlnsim.rules.core import check_pair
from dlnsim.rules.field import stall_hint
from dlnsim.solve import (
    Limits,
    Options,
    Status,
    check_memory,
    check_resolvable,
    memory_estimate,
    solve,
)
from dlnsim.solve.status import not_started_message
from dlnsim.task import Task
from dlnsim.trajectory import Ensemble, Trajectory


def simulate(net: Network, task: Task, rule: Rule, t, lr: float = 1.0, method: str = "ode",
             solver: str | None = None, *, rtol: float = 1e-10, atol: float = 1e-12,
             dt: float | None = None, limits: Limits | None = None, quiet: bool = False,
             backend: str = "numpy", device: str | None = None) -> Trajectory:
    """Integrate ``dw/dt = lr * rule.velocity(w)`` (``method="ode"``) or iterate
    ``w <- w + lr * velocity`` (``method="discrete"``, every rule, stateful ones included).

    Parameters
    ----------
    net, task, rule
        Initial network, task and update rule (:mod:`dlnsim.rules`).
    t
        Save times, strictly increasing; ``t[0]`` is the time of ``net``. For discrete runs,
        integer step numbers.
    lr
        Learning rate ``eta > 0``.
    method
        ``"ode"`` or ``"discrete"``. Stateful or stochastic rules (K-FAC, HCGD, noisy and
        minibatch SGD) are discrete-time optimisers and refuse ``"ode"``.
    solver, rtol, atol, dt
        ODE runs only. A ``scipy.integrate`` one-step method (``"DOP853"``, the numpy default,
        ``"RK45"``, ``"Radau"``, ``"LSODA"``, ...; numpy backend), or dlnsim's batched
        ``"dopri5"`` (Dormand-Prince 5(4), the torch default) or fixed-step ``"rk4"`` (step
        ``dt``), which run on either backend. The default tolerances keep the global error
        near 1e-10 relative. Stiff runs (a large ``lr`` on an explicit solver) stop within the
        evaluation budget and say so; ``solver="Radau"`` or ``"LSODA"`` handle them.
    limits
        :class:`dlnsim.solve.Limits`: ``max_norm`` (status 1 above it), ``max_steps``,
        ``min_step`` (stall), ``max_evals`` (budget), ``max_memory`` (refused up front).
    quiet
        Hide the progress bar.
    backend, device
        ``"numpy"`` or ``"torch"`` (float64 tensors on ``device``: ``"cpu"``, ``"cuda"``).

    Returns
    -------
    Trajectory
        With ``status`` (:class:`dlnsim.solve.Status`) and ``message`` as in ``solve_ivp``; a
        run that stops early (diverged, failed, interrupted) keeps its good prefix and never
        returns NaNs.
    """
    _check_run(net, task, rule)
    if solver is None:  # scipy's DOP853 for a lone numpy run, else the batched dopri5
        solver = "DOP853" if backend == "numpy" else "dopri5"
    return simulate_ensemble([net], task, rule, t, lr, method, solver, rtol=rtol, atol=atol,
                             dt=dt, limits=limits, quiet=quiet, backend=backend,
                             device=device).member(0)


def simulate_ensemble(nets: Sequence[Network], task: Task | Sequence[Task],
                      rule: Rule | Sequence[Rule], t, lr=1.0, method: str = "ode",
                      solver: str | None = None, *, rtol: float = 1e-10, atol: float = 1e-12,
                      dt: float | None = None, limits: Limits | None = None,
                      quiet: bool = False, backend: str = "numpy",
                      device: str | None = None) -> Ensemble:
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
        object are integrated together. A stochastic rule's member ``b`` of such a group draws
        from child ``b`` of the rule's seed (``numpy.random.SeedSequence(seed).spawn``), so a
        lone run is child 0.
    t
        Save times shared by all members (step numbers for discrete runs).
    lr
        One learning rate, or one per member.
    method
        ``"ode"`` or ``"discrete"``, as in :func:`simulate`.
    solver
        ``"dopri5"`` (default; adaptive, ``rtol``/``atol``) or ``"rk4"`` (fixed step ``dt``);
        a scipy method for a single numpy member. Ignored for ``method="discrete"``.
    rtol, atol, dt
        Tolerances of ``dopri5`` per member, the step of ``rk4``.
    limits
        :class:`dlnsim.Limits`, as in :func:`simulate` (memory is estimated for all members).
    quiet, backend, device
        As in :func:`simulate`.

    Returns
    -------
    Ensemble
        Stacked results with a ``status`` and ``message`` per member.

    Raises
    ------
    ValueError, TypeError
        Bad input, before any work: members of different widths, a rule that needs discrete
        time under ``method="ode"``, memory above ``limits.max_memory``, ...
    """
    nets, tasks, rules_, lrs, be, opts, groups = prepare(
        nets, task, rule, t, lr, method, solver, rtol=rtol, atol=atol, dt=dt, limits=limits,
        backend=backend, device=device)
    b, widths, limits = len(nets), nets[0].widths, opts.limits
    size = max(r.decomposition_size(widths) for r in rules_)
    with threads.limit(size, limits.threads):
        out, saved, status, message, nfev = _solve_groups(nets, groups, lrs, be, opts, quiet)
    weights = unflatten(out, widths)  # (B, T, n_{i+1}, n_i) per layer
    maps = weights[0]
    for w in weights[1:]:
        maps = w @ maps
    loss = np.array([[tasks[i].loss(maps[i, k]) for k in range(len(opts.t))] for i in range(b)])
    return Ensemble(
        t=np.asarray(opts.t, dtype=float), weights=weights, map=maps, loss=loss, saved=saved,
        status=status, message=tuple(message), tasks=tuple(tasks),
        rule=tuple(r.name for r in rules_), lr=np.array(lrs), method=opts.label,
        backend=str(be), nfev=nfev,
    )


def prepare(nets, task, rule, t, lr=1.0, method: str = "ode", solver: str | None = None, *,
            rtol: float = 1e-10, atol: float = 1e-12, dt: float | None = None,
            limits: Limits | None = None, backend: str = "numpy", device: str | None = None):
    """Every check :func:`simulate_ensemble` makes before any work, on the same arguments;
    returns ``(nets, tasks, rules, lrs, backend, options, groups)`` ready to integrate.

    A sweep's spec is checked by preparing a few of its members (without running them), so
    that what would fail in every chunk fails before the first one starts.

    Raises
    ------
    ValueError, TypeError
        As :func:`simulate_ensemble`.
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
    lrs = _learning_rates(lr, b)
    be = backends.get(backend, device)
    if limits is None:
        limits = Limits()
    opts = Options.checked(method, "dopri5" if solver is None else solver, t, rtol, atol, dt,
                           limits, batched=b > 1 or be.name != "numpy")
    widths = nets[0].widths
    p = sum(n.size for n in nets[0].weights)
    check_memory(memory_estimate(len(opts.t), b, p, widths[0] * widths[-1]
                                 + sum(w * w for w in widths[1:-1])), limits)
    for i, (n, tk) in enumerate(zip(nets, tasks)):
        name = "net" if b == 1 else f"nets[{i}]"
        with np.errstate(over="ignore", invalid="ignore"):
            norm, loss0 = float(np.sqrt(n.squared_norm())), tk.loss(n.map)
        if not norm <= limits.max_norm:
            raise ValueError(f"{name}: the initial weights' norm {norm:.3g} is above "
                             f"limits.max_norm = {limits.max_norm:.3g}")
        if not np.isfinite(loss0):
            raise ValueError(f"{name}: the loss of the initial map overflows float64 "
                             "(weights or target too large)")
        check_resolvable([np.abs(w).max() for w in n.weights], opts, f"{name}: layer")
    groups = _groups(nets, tasks, rules_, be, opts)  # every group checked before any work
    return nets, tasks, rules_, lrs, be, opts, groups


def _groups(nets, tasks, rules_, be, opts) -> list:
    """``(members, rule, stack)`` per rule object, each checked (:meth:`Rule.check`)."""
    widths = nets[0].widths
    groups: dict[int, list[int]] = {}
    for i, r in enumerate(rules_):
        groups.setdefault(id(r), []).append(i)
    out = []
    for members in groups.values():
        r = rules_[members[0]]
        stack = replace(Stack.from_tasks([tasks[i] for i in members], be.asarray),
                        weights=tuple(be.asarray(np.stack([nets[i].weights[k] for i in members]))
                                      for k in range(len(widths) - 1)))
        r.check(stack, discrete=opts.method == "discrete")
        out.append((members, r, stack))
    return out


def _solve_groups(nets, groups, lrs, be, opts, quiet):
    """Integrate each group of members that share a rule; ``(out, saved, status, message,
    nfev)`` with ``out`` the flat states ``(B, T, P)``."""
    b = len(nets)
    flat0 = np.stack([n.flat() for n in nets])
    out = np.repeat(flat0[:, None, :], len(opts.t), axis=1)  # (B, T, P)
    saved = np.ones(b, dtype=np.int64)
    status = np.zeros(b, dtype=np.int64)
    message = [""] * b
    nfev = 0
    interrupted = False
    for members, r, stack in groups:
        if interrupted:  # Ctrl-C stops the whole ensemble: later groups do not start
            status[members] = int(Status.INTERRUPTED)
            for i in members:
                message[i] = not_started_message()
            continue
        field = be.guard(r.field(stack, be.asarray(lrs[members])))
        desc = r.name if len(groups) == 1 else f"{r.name} ({len(members)})"
        res = solve(field, be.asarray(flat0[members]), opts, quiet, desc, stall_hint(r))
        for k, y in enumerate(res.y):
            out[members, k] = be.to_numpy(y)
        saved[members], status[members] = res.saved, res.status
        for j, i in enumerate(members):
            message[i] = res.message[j]
        nfev += res.nfev
        interrupted = bool(np.any(res.status == int(Status.INTERRUPTED)))
    return out, saved, status, message, nfev


def _learning_rates(lr, b: int) -> np.ndarray:
    if isinstance(lr, (str, bytes)):
        raise TypeError(f"lr must be a number or a sequence of numbers, got {lr!r}")
    if np.ndim(lr) == 0:
        return np.full(b, V.positive(lr, "lr"))
    vals = list(lr)
    if len(vals) != b:
        raise ValueError(f"lr must be a number or hold one value per network ({b}), got "
                         f"{len(vals)}")
    return np.array([V.positive(x, f"lr[{i}]") for i, x in enumerate(vals)])


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
    check_pair(net, task, where)
    if not isinstance(rule, Rule):
        raise TypeError(f"rule{where} must be a dlnsim.rules.Rule, got {type(rule).__name__}")
