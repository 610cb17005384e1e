"""Assertions that report numbers: each raises ``AssertionError`` whose message gives the
measured error, where it occurred and the tolerance, and returns the measured error when it
holds (so a test can also record it).

The tolerance is ``atol + rtol * scale`` with ``scale`` the size of the reference (the quantity
at ``t = 0``, the second trajectory, the closed form), as in ``numpy.testing.assert_allclose``
but on the worst entry over the whole run.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from dlnsim.modes import ModeTrajectory
from dlnsim.network import Network
from dlnsim.rules.core import Rule
from dlnsim.task import Task
from dlnsim.testing.reference import dense_velocity
from dlnsim.trajectory import Trajectory


def _tolerances(rtol, atol) -> tuple[float, float]:
    rtol, atol = float(rtol), float(atol)
    if not (rtol >= 0 and atol >= 0 and math.isfinite(rtol) and math.isfinite(atol)):
        raise ValueError(f"rtol and atol must be finite numbers >= 0, got {rtol!r}, {atol!r}")
    return rtol, atol


def _require_finite(x, what: str, t=None) -> None:
    """A non-finite measured or reference value is a failure that says which and where (an
    infinite value would otherwise make the allowed error infinite)."""
    x = np.asarray(x, dtype=float)
    bad = ~np.isfinite(x)
    if not bad.any():
        return
    where = ""
    if t is not None and x.ndim >= 1 and len(t) == x.shape[0]:
        k = int(np.argmax(bad.reshape(x.shape[0], -1).any(axis=1)))
        where = f", first at t = {float(t[k]):.6g}"
    raise AssertionError(f"{what} is not finite: {int(bad.sum())} of {x.size} values are NaN "
                         f"or infinite{where}")


def _complete(traj, allow_incomplete: bool, name: str = "traj") -> None:
    if not isinstance(traj, (Trajectory, ModeTrajectory)):
        raise TypeError(f"{name} must be a dlnsim Trajectory or ModeTrajectory, got "
                        f"{type(traj).__name__}")
    if int(traj.status) != 0 and not allow_incomplete:
        raise AssertionError(f"{name} stopped early (status {int(traj.status)}: "
                             f"{traj.message}) at t = {traj.t[-1]:.6g}; pass "
                             "allow_incomplete=True to check the part that was computed")


def _states(traj):
    """Each saved state: a Network (full matrices) or the (modes, d) strengths."""
    if isinstance(traj, ModeTrajectory):
        return list(traj.sigma)
    return [traj.network(k) for k in range(len(traj.t))]


def assert_conserved(traj, quantity: str | Callable = "imbalance", rtol: float = 1e-8,
                     atol: float = 0.0, allow_incomplete: bool = False) -> float:
    """Assert that ``quantity`` stays at its ``t = 0`` value along ``traj``.

    ``quantity`` is ``"imbalance"`` (all ``c_i = w_i w_i^T - w_{i+1}^T w_{i+1}``, eq 15; for
    a mode run ``sigma_i^2 - sigma_{i+1}^2``) or a function of one saved state: a
    :class:`dlnsim.Network` for full-matrix runs, the ``(modes, d)`` strengths for mode runs.
    Fails when ``max_t |q(t) - q(0)| > atol + rtol * max |q(0)|``; returns that drift.

    Parameters
    ----------
    traj : Trajectory or ModeTrajectory
        The run.
    quantity : str or callable
        ``"imbalance"`` or a function of one saved state.
    rtol, atol : float
        The tolerance is ``atol + rtol * scale``, scale the reference's size.
    allow_incomplete : bool
        Check the part of a run that stopped early instead of failing on it.

    Returns
    -------
    float
        The drift ``max_t |q(t) - q(0)|``.

    Raises
    ------
    AssertionError
        With the drift, where it occurred and the tolerance.
    """
    rtol, atol = _tolerances(rtol, atol)
    _complete(traj, allow_incomplete)
    if quantity == "imbalance":
        name = "the imbalance c_i"
        if isinstance(traj, ModeTrajectory):
            def fn(s):
                return s[:, :-1] ** 2 - s[:, 1:] ** 2
        else:
            def fn(net):
                return np.concatenate([np.ravel(c) for c in net.imbalance()] or [np.zeros(0)])
    elif callable(quantity):
        name, fn = getattr(quantity, "__name__", "quantity"), quantity
    else:
        raise TypeError(f"quantity must be 'imbalance' or a function of a state, got "
                        f"{quantity!r}")
    values = [np.asarray(fn(s), dtype=float) for s in _states(traj)]
    for k, q in enumerate(values):
        _require_finite(q, f"{name} at t = {float(traj.t[k]):.6g}")
    q0 = values[0]
    scale = float(np.max(np.abs(q0))) if q0.size else 0.0
    drift, where = 0.0, 0
    for k, q in enumerate(values):
        if q.shape != q0.shape:
            raise ValueError(f"quantity changed shape from {q0.shape} to {q.shape} at "
                             f"t = {traj.t[k]:.6g}")
        dk = float(np.max(np.abs(q - q0))) if q.size else 0.0
        if not math.isfinite(dk):
            dk = math.inf
        if dk > drift or not math.isfinite(dk):
            drift, where = dk, k
    allowed = atol + rtol * scale
    if not drift <= allowed:
        raise AssertionError(
            f"{name} is not conserved: max |q(t) - q(0)| = {drift:.3e} at t = "
            f"{traj.t[where]:.6g} ({drift / scale if scale else math.inf:.3e} of max |q(0)| = "
            f"{scale:.3e}); allowed {allowed:.3e} = atol {atol:g} + rtol {rtol:g} x {scale:.3e}")
    return drift


def assert_trajectories_close(a, b, rtol: float = 1e-8, atol: float = 0.0,
                              allow_incomplete: bool = False) -> float:
    """Assert that two runs agree: same save times, and every layer's weights (or the mode
    strengths) within ``atol + rtol * max |b|``. Returns the worst absolute deviation.

    Parameters
    ----------
    a, b : Trajectory or ModeTrajectory
        Two runs of the same kind (``b`` is the reference).
    rtol, atol : float
        The tolerance is ``atol + rtol * scale``, scale the reference's size.
    allow_incomplete : bool
        Check the part of a run that stopped early instead of failing on it.

    Returns
    -------
    float
        The worst absolute deviation.

    Raises
    ------
    AssertionError
        With the deviation, the layer and time where it occurred and the tolerance.
    """
    rtol, atol = _tolerances(rtol, atol)
    _complete(a, allow_incomplete, "a")
    _complete(b, allow_incomplete, "b")
    if type(a) is not type(b):
        raise TypeError(f"a and b must be runs of the same kind, got {type(a).__name__} and "
                        f"{type(b).__name__}")
    if a.t.shape != b.t.shape or not np.allclose(a.t, b.t, rtol=1e-12, atol=0):
        raise AssertionError(f"the runs were saved at different times: {len(a.t)} points up "
                             f"to {a.t[-1]:.6g} against {len(b.t)} up to {b.t[-1]:.6g}")
    layers_a = (a.sigma,) if isinstance(a, ModeTrajectory) else a.weights
    layers_b = (b.sigma,) if isinstance(b, ModeTrajectory) else b.weights
    if [x.shape for x in layers_a] != [x.shape for x in layers_b]:
        raise AssertionError(f"the runs have different shapes: {[x.shape for x in layers_a]} "
                             f"against {[x.shape for x in layers_b]}")
    for i, (x, y) in enumerate(zip(layers_a, layers_b)):
        what = "the strengths" if isinstance(a, ModeTrajectory) else f"layer {i + 1}"
        _require_finite(x, f"{what} of a", a.t)
        _require_finite(y, f"{what} of b (the reference)", b.t)
    scale = max(float(np.max(np.abs(x))) for x in layers_b)
    worst, at = 0.0, (0, 0)
    for i, (x, y) in enumerate(zip(layers_a, layers_b)):
        dev = np.abs(x - y).reshape(len(a.t), -1).max(axis=1)
        dev = np.where(np.isfinite(dev), dev, np.inf)
        k = int(np.argmax(dev))
        if dev[k] > worst or not np.isfinite(dev[k]):
            worst, at = float(dev[k]), (i, k)
    allowed = atol + rtol * scale
    if not worst <= allowed:
        what = "the strengths" if isinstance(a, ModeTrajectory) else f"layer {at[0] + 1}"
        raise AssertionError(
            f"the runs differ: max |a - b| = {worst:.3e} in {what} at t = {a.t[at[1]]:.6g} "
            f"({worst / scale if scale else math.inf:.3e} of max |b| = {scale:.3e}); allowed "
            f"{allowed:.3e} = atol {atol:g} + rtol {rtol:g} x {scale:.3e}")
    return worst


def assert_matches_closed_form(traj, formula, rtol: float = 1e-8, atol: float = 0.0,
                               of: Callable | None = None,
                               allow_incomplete: bool = False) -> float:
    """Assert that a run follows a closed form in time.

    ``formula`` is a function of the save times ``t`` (an array) or a sympy expression whose
    only free symbol is :data:`dlnsim.symbolic.t`; its values must broadcast against
    ``of(traj)`` (default: ``traj.map``, i.e. ``W(t)`` of shape ``(T, n_d, n_0)`` for full
    runs and ``sbar(t)`` of shape ``(T, modes)`` for mode runs). Returns the worst deviation.

    Parameters
    ----------
    traj : Trajectory or ModeTrajectory
        The run.
    formula : callable or sympy.Expr
        Of the save times (or in :data:`dlnsim.symbolic.t`).
    rtol, atol : float
        The tolerance is ``atol + rtol * scale``, scale the reference's size.
    of : callable, optional
        What to compare (default the map).
    allow_incomplete : bool
        Check the part of a run that stopped early instead of failing on it.

    Returns
    -------
    float
        The worst deviation.

    Raises
    ------
    AssertionError
        With the deviation, the time where it occurred and the tolerance.
    """
    rtol, atol = _tolerances(rtol, atol)
    _complete(traj, allow_incomplete)
    got = np.asarray(traj.map if of is None else of(traj), dtype=float)
    fn = _as_function(formula)
    want = np.asarray(fn(np.asarray(traj.t, dtype=float)), dtype=float)
    try:
        want = np.broadcast_to(want if want.ndim == got.ndim or want.ndim != 1
                               else want.reshape((-1,) + (1,) * (got.ndim - 1)), got.shape)
    except ValueError:
        raise ValueError(f"formula gives shape {want.shape}, which does not broadcast against "
                         f"the run's {got.shape}") from None
    _require_finite(got, "the run", traj.t)
    _require_finite(want, "the closed form", traj.t)
    dev = np.abs(got - want).reshape(len(traj.t), -1).max(axis=1)
    k = int(np.argmax(dev))
    scale = float(np.max(np.abs(want)))
    allowed = atol + rtol * scale
    if not dev[k] <= allowed:
        raise AssertionError(
            f"the run leaves the closed form: max deviation {dev[k]:.3e} at t = "
            f"{traj.t[k]:.6g} ({dev[k] / scale if scale else math.inf:.3e} of max |formula| = "
            f"{scale:.3e}); allowed {allowed:.3e} = atol {atol:g} + rtol {rtol:g} x "
            f"{scale:.3e}")
    return float(dev[k])


def _as_function(formula) -> Callable:
    try:
        import sympy as sp
    except ImportError:  # pragma: no cover - sympy is a dependency
        sp = None
    if sp is not None and isinstance(formula, sp.Expr):
        from dlnsim.symbolic import t as t_symbol

        free = formula.free_symbols - {t_symbol}
        if free:
            raise ValueError(f"formula has free symbols other than t: "
                             f"{sorted(map(str, free))}; substitute their values first")
        return sp.lambdify(t_symbol, formula, "numpy")
    if not callable(formula):
        raise TypeError(f"formula must be a function of t or a sympy expression in "
                        f"dlnsim.symbolic.t, got {type(formula).__name__}")
    return formula


def assert_velocity_matches_dense(net: Network, task: Task, rule: Rule, rtol: float = 1e-8,
                                  atol: float = 0.0) -> float:
    """Assert ``rule.velocity(net, task)`` equals :func:`dense_velocity` (the slow, obvious
    reference) within ``atol + rtol * ||dense||``; returns ``||fast - dense||`` (2-norm over
    all layers).

    Parameters
    ----------
    net : Network
        The network.
    task : Task
        Its task.
    rule : Rule
        The rule under test (a transform of your own needs ``dense(v, ctx)``).
    rtol, atol : float
        The tolerance is ``atol + rtol * ||dense||``.

    Returns
    -------
    float
        ``||fast - dense||``.

    Raises
    ------
    AssertionError
        With the error, its size relative to the reference, the widths and the tolerance.
    """
    rtol, atol = _tolerances(rtol, atol)
    fast = np.concatenate([np.ravel(v) for v in rule.velocity(net, task)])
    slow = np.concatenate([np.ravel(v) for v in dense_velocity(net, task, rule)])
    _require_finite(fast, f"{rule.name}'s velocity")
    _require_finite(slow, f"the dense reference velocity of {rule.name}")
    err, scale = float(np.linalg.norm(fast - slow)), float(np.linalg.norm(slow))
    allowed = atol + rtol * scale
    if not err <= allowed:
        raise AssertionError(
            f"{rule.name}: ||velocity - dense reference|| = {err:.3e} "
            f"({err / scale if scale else math.inf:.3e} of ||dense|| = {scale:.3e}) on widths "
            f"{net.widths}; allowed {allowed:.3e} = atol {atol:g} + rtol {rtol:g} x "
            f"{scale:.3e}")
    return err


__all__ = ["assert_conserved", "assert_matches_closed_form", "assert_trajectories_close",
           "assert_velocity_matches_dense"]
