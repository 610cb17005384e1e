"""Singular-mode dynamics (Huh 2020, eqs 5, 10, 12, 20, 21) and the balanced map ODE (eq 17).

State ``sigma`` has shape ``(modes, d)``: mode ``k``'s singular value in layer ``i``. With
``sbar = prod_i sigma_i``, ``j_i = prod_{k != i} sigma_k`` (computed as a product, never a
quotient) and ``sd = sbar - s*``, the rules are (unit learning rate)

* full q-NGD:   ``dsigma_i/dt = -sd j_i (||j||^2 + eps)^{-1/q}``           (eq 12; eq 5 at q = inf)
* block q-NGD-d: ``dsigma_i/dt = -d^{-1/q} sd j_i (j_i^2 + eps)^{-1/q}``   (eqs 20, 21)

with ``eps = 0`` meaning the pseudo-inverse: a zero Jacobian gives zero velocity. Decoupled weight
decay adds ``-lam sigma_i``. These are the full-matrix rules restricted to networks aligned with
the target's SVD (:meth:`dlnsim.Network.aligned`), and they are computed by the same rules:
:mod:`dlnsim.rules` transforms act on a :class:`~dlnsim.rules.ModeStack` as on full matrices,
so any chain of gd, ngd, l2, clip and weight_decay has a singular-mode field here.
"""

from __future__ import annotations

import math

import numpy as np
from array_api_compat import array_namespace, is_numpy_namespace

from dlnsim import _validate as V
from dlnsim import backends, threads
from dlnsim import rules as R
from dlnsim.curvature import batched
from dlnsim.curvature.spectral import DEFAULT_RCOND, inverse_power
from dlnsim.rules.presets import DEFAULT_Q
from dlnsim.solve import Limits, Options, check_resolvable, solve
from dlnsim.solve.status import Status
from dlnsim.trajectory import ModeTrajectory


# -- the singular-mode vector field -----------------------------------------------------------
def jacobian(sigma):
    """``j_i = prod_{k != i} sigma_k`` per mode (:func:`dlnsim.curvature.batched.mode_jacobian`);
    any array namespace and leading dimensions (lists become float64 numpy arrays).

    Parameters
    ----------
    sigma : array_like
        Layer strengths, shape ``(..., modes, d)``.

    Returns
    -------
    array
        ``j``, the same shape (a product of the others, never a quotient, so zeros are exact).
    """
    return batched.mode_jacobian(_as_array(sigma))


def mode_rule(q: float = DEFAULT_Q, block_diagonal: bool = False, damping: float = 0.0,
              weight_decay: float = 0.0, max_speed: float | None = None) -> R.Rule:
    """The rule the keyword shorthand names: :func:`dlnsim.rules.preset` with ``clip =
    max_speed`` (``chain(ngd(q, damping, block_diagonal), clip(max_speed),
    weight_decay(weight_decay))``, terms that do nothing left out).

    Parameters
    ----------
    q : float
        Curvature order, ``>= 1`` (``inf``: GD).
    block_diagonal : bool
        NGD-d (eqs 20, 21) instead of full q-NGD (eq 12).
    damping : float
        Levenberg-Marquardt ``eps >= 0``.
    weight_decay : float
        Decoupled decay ``lam >= 0``.
    max_speed : float, optional
        Clip the update's speed.

    Returns
    -------
    Rule
    """
    return R.preset(q, damping=damping, block_diagonal=block_diagonal, clip=max_speed,
                    weight_decay=weight_decay)


def velocity(sigma, target, q: float = DEFAULT_Q, block_diagonal: bool = False,
             damping: float = 0.0, weight_decay: float = 0.0,
             max_speed: float | None = None, rule: R.Rule | None = None):
    """``dsigma/dt`` at unit learning rate, vectorized over ``(..., modes, d)``.

    ``rule`` is any chain of gd, ngd, l2, clip and weight_decay; without it the keywords name
    one (:func:`mode_rule`). Clipping acts on the preconditioned update's total norm over all
    modes and layers of each leading index (per ensemble member), as :func:`dlnsim.rules.clip`
    does on full matrices. Any array namespace (numpy or torch); ``target`` broadcasts against
    ``sigma[..., 0]``.

    Parameters
    ----------
    sigma : array_like
        Layer strengths, shape ``(..., modes, d)``.
    target : array_like
        ``s*`` per mode, broadcasting against ``sigma[..., 0]``.
    q, block_diagonal, damping, weight_decay, max_speed
        The rule's keywords (:func:`mode_rule`), when ``rule`` is not given.
    rule : Rule, optional
        Any chain of gd, ngd, l2, clip and weight_decay.

    Returns
    -------
    array
        ``dsigma/dt``, the shape of ``sigma``: ``-sd j_i / ||j||^{2/q}`` for full q-NGD (eq 12),
        ``-d^{-1/q} sd j_i |j_i|^{-2/q}`` for NGD-d (eqs 20, 21).
    """
    sigma = _as_array(sigma)
    target = _as_array(target)
    if rule is None:
        rule = mode_rule(q, block_diagonal, damping, weight_decay, max_speed)
    else:
        _rule_alone(rule, q, block_diagonal, damping, weight_decay, max_speed)
    return rule.stack_velocity(R.ModeStack((sigma,), target))[0]


def _rule_alone(rule, q, block_diagonal, damping, weight_decay, max_speed) -> None:
    """``rule`` names the whole rule: a keyword set away from its default beside it would be
    silently ignored, so it is refused, naming it."""
    if not isinstance(rule, R.Rule):
        raise TypeError(f"rule must be a dlnsim.rules.Rule, got {type(rule).__name__}")
    given = [name for name, value, default in (
        ("q", q, DEFAULT_Q), ("block_diagonal", block_diagonal, False),
        ("damping", damping, 0.0), ("weight_decay", weight_decay, 0.0),
        ("max_speed", max_speed, None)) if not (value is default or value == default)]
    if given:
        raise ValueError(f"rule={rule.name} names the whole rule; {', '.join(given)} would be "
                         f"ignored beside it: give one or the other")


def _as_array(x):
    """Tensors pass through; anything else becomes a float64 numpy array."""
    try:
        if not is_numpy_namespace(array_namespace(x)):
            return x
    except TypeError:
        pass
    return np.asarray(x, dtype=float)


def simulate(sigma0, target, t, q: float = DEFAULT_Q, block_diagonal: bool = False, lr: float = 1.0,
             weight_decay: float = 0.0, *, rule: R.Rule | None = None, method: str = "ode",
             solver: str | None = None, rtol: float = 1e-10, atol: float = 1e-12,
             dt: float | None = None, limits: Limits | None = None, quiet: bool = True,
             backend: str = "numpy", device: str | None = None,
             damping: float = 0.0, max_speed: float | None = None) -> ModeTrajectory:
    """Integrate the singular-mode dynamics from ``sigma0`` (shape ``(modes, d)``).

    ``target`` holds ``s*`` per mode (shape ``(modes,)``). The rule is ``rule`` (any chain of
    gd, ngd, l2, clip and weight_decay), or the one that ``q``, ``block_diagonal``, ``damping``,
    ``max_speed`` and ``weight_decay`` name. ``method="discrete"`` takes steps
    ``sigma <- sigma + lr v(sigma)`` at integer save steps ``t``. ``solver`` is a scipy method
    (numpy default ``"DOP853"``) or the batched ``"dopri5"`` (torch default) / ``"rk4"``
    (step ``dt``); ``backend="torch"`` runs the same field on float64 tensors on ``device``.
    Other options as in :func:`dlnsim.simulate`.

    Parameters
    ----------
    sigma0 : array_like
        Initial strengths, shape ``(modes, d)``.
    target : array_like
        ``s*`` per mode, shape ``(modes,)``.
    t : array_like
        Save times (integer steps for ``method="discrete"``).
    q, block_diagonal, damping, weight_decay, max_speed
        The rule's keywords (:func:`mode_rule`), when ``rule`` is not given.
    lr : float
        Learning rate.
    rule : Rule, optional
        Any chain of gd, ngd, l2, clip and weight_decay.
    method, solver, rtol, atol, dt, limits, quiet, backend, device
        As in :func:`dlnsim.simulate`.

    Returns
    -------
    ModeTrajectory
        ``sigma`` of shape ``(T, modes, d)`` with ``status`` and ``message``.
    """
    s0 = V.as_matrix(sigma0, "sigma0")
    s_star = V.vector(target, "target", s0.shape[0])
    lr = V.positive(lr, "lr")
    if rule is None:
        rule = mode_rule(q, block_diagonal, damping, V.nonnegative(weight_decay, "weight_decay"),
                         max_speed)
    else:
        _rule_alone(rule, q, block_diagonal, damping, weight_decay, max_speed)
    be = backends.get(backend, device)
    opts = Options.checked(method, solver, t, rtol, atol, dt, limits,
                           batched=be.name != "numpy")
    check_resolvable(np.abs(s0).max(axis=1), opts, "sigma0's mode")
    shape = s0.shape
    stack = R.ModeStack((be.asarray(s0[None]),), be.asarray(s_star[None]))
    rule.check(stack, discrete=opts.method == "discrete")
    field = rule.field(stack, be.asarray(np.array([lr])))
    with threads.limit(max(shape), opts.limits.threads):  # elementwise: one thread unless set
        res = solve(be.guard(field), be.asarray(s0.reshape(1, -1)), opts, quiet, "modes")
    k = int(res.saved[0])
    sigma = np.stack([be.to_numpy(y)[0] for y in res.y[:k]]).reshape((-1,) + shape)
    return ModeTrajectory(res.t[:k].astype(float), sigma, Status(int(res.status[0])),
                          res.message[0])


def _run(field, y0: np.ndarray, t, solver: str, rtol: float, atol: float,
         limits: Limits | None, quiet: bool):
    """One numpy ODE for the map-level fields below; returns the reached times and states."""
    opts = Options.checked("ode", solver, t, rtol, atol, None, limits or Limits())
    with threads.limit(int(math.isqrt(y0.size)), opts.limits.threads):
        res = solve(lambda y, idx: field(y[0])[None], y0[None], opts, quiet, "modes")
    k = int(res.saved[0])
    return (res.t[:k], np.stack([y[0] for y in res.y[:k]]), Status(int(res.status[0])),
            res.message[0])


# -- the balanced map ODE (eq 17) -------------------------------------------------------------
def exponent(d: int, q: float) -> float:
    """``p = 2 (d - 1)(q - 1) / (d q)`` (Huh 2020, eq 17); ``2 (d - 1)/d`` at ``q = inf``.

    Parameters
    ----------
    d : int
        Depth.
    q : float
        Curvature order, ``>= 1`` (``inf``: GD).

    Returns
    -------
    float
    """
    d = _depth(d)
    q = V.order_q(q)
    if math.isinf(q):
        return 2.0 * (d - 1) / d
    return 2.0 * (d - 1) * (q - 1) / (d * q)


def calibrated_rate(lr: float, d: int, q: float) -> float:
    """Depth-calibrated learning rate ``etabar = lr d^{1 - 1/q}`` (eq 17).

    Parameters
    ----------
    lr : float
        Learning rate ``> 0``.
    d : int
        Depth.
    q : float
        Curvature order.

    Returns
    -------
    float
    """
    q = V.order_q(q)
    return V.positive(lr, "lr") * _depth(d) ** (1.0 - (0.0 if math.isinf(q) else 1.0 / q))


def map_velocity(sbar: np.ndarray, target: np.ndarray, d: int, q: float,
                 lr: float = 1.0) -> np.ndarray:
    """``dsbar/dt = -etabar (sbar - s*) |sbar|^p`` for balanced modes (eq 17).

    Parameters
    ----------
    sbar : array_like
        Map strengths.
    target : array_like
        ``s*``, broadcasting against ``sbar``.
    d : int
        Depth.
    q : float
        Curvature order.
    lr : float
        Learning rate.

    Returns
    -------
    numpy.ndarray
    """
    sbar = np.asarray(sbar, dtype=float)
    return -calibrated_rate(lr, d, q) * (sbar - target) * np.abs(sbar) ** exponent(d, q)


def simulate_map(sbar0, target, t, d: int, q: float, lr: float = 1.0, solver: str = "DOP853",
                 rtol: float = 1e-12, atol: float = 1e-14, limits: Limits | None = None,
                 quiet: bool = True) -> ModeTrajectory:
    """Integrate eq 17 for each mode; returns a trajectory with ``sigma`` of shape (T, m, 1).

    Parameters
    ----------
    sbar0, target : array_like
        Initial map strengths and ``s*``, one per mode.
    t : array_like
        Save times.
    d : int
        Depth.
    q : float
        Curvature order.
    lr : float
        Learning rate.
    solver, rtol, atol, limits, quiet
        A scipy one-step method and its tolerances; as in :func:`dlnsim.simulate`.

    Returns
    -------
    ModeTrajectory
    """
    d, q = _depth(d), V.order_q(q)
    return simulate_map_exponent(sbar0, target, t, exponent(d, q), calibrated_rate(lr, d, q),
                                 solver, rtol, atol, limits, quiet)


def simulate_map_exponent(sbar0, target, t, p: float, etabar: float = 1.0,
                          solver: str = "DOP853", rtol: float = 1e-12, atol: float = 1e-14,
                          limits: Limits | None = None, quiet: bool = True) -> ModeTrajectory:
    """Integrate ``dsbar/dt = -etabar (sbar - s*) |sbar|^p`` for any exponent ``p >= 0``
    (e.g. the ``d -> inf`` GD limit ``p = 2``).

    Parameters
    ----------
    sbar0, target : array_like
        Initial map strengths and ``s*``, one per mode.
    t : array_like
        Save times.
    p : float
        The exponent, ``>= 0``.
    etabar : float
        The rate ``> 0``.
    solver, rtol, atol, limits, quiet
        As in :func:`simulate_map`.

    Returns
    -------
    ModeTrajectory
        ``sigma`` of shape ``(T, modes, 1)``.
    """
    s0 = V.vector(sbar0, "sbar0")
    s_star = V.vector(target, "target", s0.shape[0])
    p = V.nonnegative(p, "p")
    etabar = V.positive(etabar, "etabar")

    def field(y):
        return -etabar * (y - s_star) * np.abs(y) ** p

    ts, ys, status, message = _run(field, s0, t, solver, rtol, atol, limits, quiet)
    return ModeTrajectory(ts, ys[:, :, None], status, message)


# -- end-to-end map dynamics of balanced networks (any q) -------------------------------------
def end_to_end_velocity(w: np.ndarray, target: np.ndarray, d: int, q: float,
                        damping: float = 0.0, rcond: float = DEFAULT_RCOND,
                        rank: int | None = None) -> np.ndarray:
    """``dW/dt = -K_W K_W^{+1/q} [W - W*]`` at unit rate, balanced network, ``S = I``.

    ``K_W[X] = sum_{i=0}^{d-1} (W W^T)^{(d-1-i)/d} X (W^T W)^{i/d}`` is diagonal in the SVD
    basis of ``W`` (claim scale.end_to_end): the map evolves on its own, whatever the hidden
    layers. ``q = inf`` is the end-to-end dynamics of gradient descent (Arora et al. 2018);
    ``q = 1`` gives ``-P (W - W*)`` with ``P`` the projection onto the range of ``K_W``.

    Parameters
    ----------
    w : numpy.ndarray
        The map ``W``, shape ``(n_d, n_0)``.
    target : numpy.ndarray
        ``W*``, the same shape.
    d : int
        Depth.
    q : float
        Curvature order.
    damping : float
        Levenberg-Marquardt ``eps``.
    rcond : float
        Pseudo-inverse cutoff relative to the largest eigenvalue of ``K_W``.
    rank : int or None
        The network's narrowest width when it is below ``min(n_d, n_0)``: singular values
        beyond it are exact zeros of the network's map and are taken as 0 (None: all kept).

    Returns
    -------
    numpy.ndarray
        ``dW/dt``, the shape of ``w``.
    """
    u, v, lam = batched.balanced_svd(np.asarray(w, dtype=float), d, rank)
    gain = lam * inverse_power(lam, q, damping, rcond)
    return -(u @ (gain * (u.T @ (w - target) @ v)) @ v.T)


def simulate_end_to_end(w0, target, t, d: int, q: float, lr: float = 1.0,
                        damping: float = 0.0, solver: str = "DOP853", rtol: float = 1e-10,
                        atol: float = 1e-12, limits: Limits | None = None,
                        quiet: bool = True, rank: int | None = None) -> ModeTrajectory:
    """Integrate :func:`end_to_end_velocity` from the map ``w0``; ``sigma`` holds ``W(t)``
    with shape ``(T, n_d, n_0)``.

    Parameters
    ----------
    w0, target : array_like
        Initial map and ``W*``, shape ``(n_d, n_0)``.
    t : array_like
        Save times.
    d : int
        Depth.
    q : float
        Curvature order.
    lr : float
        Learning rate.
    damping : float
        Levenberg-Marquardt ``eps``.
    solver, rtol, atol, limits, quiet
        As in :func:`simulate_map`.
    rank : int or None
        The network's narrowest width, when it is below ``min(n_d, n_0)`` (a bottleneck): the
        map keeps at most that rank. Without it a rank-deficient map's ODE is not Lipschitz
        (``s^{2/d}`` near 0) and the integrator's error leaves the rank.

    Returns
    -------
    ModeTrajectory
    """
    w0 = V.as_matrix(w0, "w0")
    w_star = V.as_matrix(target, "target", w0.shape)
    d, q, lr = _depth(d), V.order_q(q), V.positive(lr, "lr")
    damping = V.nonnegative(damping, "damping")
    rank = None if rank is None else V.positive_int(rank, "rank")
    shape = w0.shape

    def field(y):
        return lr * end_to_end_velocity(y.reshape(shape), w_star, d, q, damping,
                                        rank=rank).ravel()

    ts, ys, status, message = _run(field, w0.ravel(), t, solver, rtol, atol, limits, quiet)
    return ModeTrajectory(ts, ys.reshape((-1,) + shape), status, message)


def _depth(d) -> int:
    return V.positive_int(d, "d")


__all__ = ["ModeTrajectory", "calibrated_rate", "end_to_end_velocity", "exponent", "jacobian",
           "map_velocity", "mode_rule", "simulate", "simulate_end_to_end", "simulate_map",
           "simulate_map_exponent", "velocity"]


def __dir__() -> list[str]:
    """The public names (tab completion and ``dir()`` show no imports)."""
    return sorted(__all__)
