"""Singular-mode dynamics (Huh 2020, eqs 5, 10, 12, 20, 21) and the balanced map ODE (eq 17).

State ``sigma`` has shape ``(modes, d)``: mode ``k``'s singular value in layer ``i``. With
``sbar = prod_i sigma_i``, ``j_i = prod_{k != i} sigma_k`` (computed as a product, never a
quotient) and ``sd = sbar - s*``, the rules are (unit learning rate)

* full q-NGD:   ``dsigma_i/dt = -sd j_i (||j||^2 + eps)^{-1/q}``           (eq 12; eq 5 at q = inf)
* block q-NGD-d: ``dsigma_i/dt = -d^{-1/q} sd j_i (j_i^2 + eps)^{-1/q}``   (eqs 20, 21)

with ``eps = 0`` meaning the pseudo-inverse: a zero Jacobian gives zero velocity. Decoupled weight
decay adds ``-lam sigma_i``. These are exactly the full-matrix rules restricted to networks aligned
with the target's SVD (:meth:`dlnsim.Network.aligned`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from array_api_compat import array_namespace, is_numpy_namespace

from dlnsim import _batched_ode, _ode, backends, curvature
from dlnsim import _validate as V


# -- the singular-mode vector field -----------------------------------------------------------
def jacobian(sigma):
    """``j_i = prod_{k != i} sigma_k`` per mode, as prefix times suffix products.

    Any array namespace and leading dimensions (numpy lists are converted to float64).
    """
    sigma = _as_array(sigma)
    xp = array_namespace(sigma)
    d = sigma.shape[-1]
    prefix = [xp.ones_like(sigma[..., 0])]
    for i in range(d - 1):
        prefix.append(prefix[-1] * sigma[..., i])
    suffix = [xp.ones_like(sigma[..., 0])]
    for i in range(d - 1, 0, -1):
        suffix.append(suffix[-1] * sigma[..., i])
    return xp.stack([p * s for p, s in zip(prefix, suffix[::-1])], axis=-1)


def velocity(sigma, target, q: float = 2.0, block_diagonal: bool = False,
             damping: float = 0.0, weight_decay: float = 0.0,
             max_speed: float | None = None):
    """``dsigma/dt`` at unit learning rate, vectorized over ``(..., modes, d)``.

    ``max_speed`` clips the preconditioned update's total norm (over all modes and layers of
    each leading index, i.e. per ensemble member) before weight decay, as
    :func:`dlnsim.rules.clip` does in a chain ``ngd -> clip -> decay``. Any array namespace
    (numpy or torch); ``target`` broadcasts against ``sigma[..., 0]``.
    """
    sigma = _as_array(sigma)
    xp = array_namespace(sigma)
    d = sigma.shape[-1]
    j = jacobian(sigma)
    sd = xp.prod(sigma, axis=-1) - target
    if block_diagonal:
        d_scale = 1.0 if math.isinf(q) else d ** (-1.0 / q)
        u = sd[..., None] * j * d_scale * curvature.inverse_power(j * j, q, damping, rcond=0.0)
    else:
        power = curvature.inverse_power(xp.sum(j * j, axis=-1), q, damping, rcond=0.0)
        u = sd[..., None] * j * power[..., None]
    if max_speed is not None:
        axes = (-2, -1) if u.ndim >= 2 else (-1,)
        speed = xp.sqrt(xp.sum(u * u, axis=axes, keepdims=True))
        u = u * xp.where(speed > max_speed,
                         max_speed / xp.where(speed > 0, speed, xp.ones_like(speed)),
                         xp.ones_like(speed))
    return -(u + weight_decay * sigma)


def _as_array(x):
    """Tensors pass through; anything else becomes a float64 numpy array."""
    try:
        if not is_numpy_namespace(array_namespace(x)):
            return x
    except TypeError:
        pass
    return np.asarray(x, dtype=float)


@dataclass(frozen=True, eq=False)
class ModeTrajectory:
    """Singular-mode run: ``sigma`` of shape ``(T, modes, d)`` at times ``t``."""

    t: np.ndarray
    sigma: np.ndarray
    status: int
    message: str

    @property
    def map(self) -> np.ndarray:
        """``sbar(t) = prod_i sigma_i``, shape ``(T, modes)``."""
        return np.prod(self.sigma, axis=-1)

    @property
    def success(self) -> bool:
        return self.status == 0

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.sigma, dtype=dtype)


def simulate(sigma0, target, t, q: float = 2.0, block_diagonal: bool = False, lr: float = 1.0,
             weight_decay: float = 0.0, damping: float = 0.0, max_speed: float | None = None,
             method: str = "ode", solver: str | None = None, rtol: float = 1e-10,
             atol: float = 1e-12, max_norm: float = 1e8, quiet: bool = True,
             backend: str = "numpy", device: str | None = None,
             dt: float | None = None) -> ModeTrajectory:
    """Integrate the singular-mode dynamics from ``sigma0`` (shape ``(modes, d)``).

    ``target`` holds ``s*`` per mode (shape ``(modes,)``). ``method="discrete"`` takes steps
    ``sigma <- sigma + lr v(sigma)`` at integer save steps ``t``. ``solver`` is a scipy method
    (numpy default ``"DOP853"``) or the batched ``"dopri5"`` (torch default) / ``"rk4"``
    (step ``dt``); ``backend="torch"`` runs the same field on float64 tensors on ``device``.
    """
    s0 = V.as_matrix(sigma0, "sigma0")
    s_star = _vector(target, "target", s0.shape[0])
    q = V.order_q(q)
    lr = V.positive(lr, "lr")
    weight_decay = V.nonnegative(weight_decay, "weight_decay")
    damping = V.nonnegative(damping, "damping")
    if max_speed is not None:
        max_speed = V.positive(max_speed, "max_speed")
    shape = s0.shape
    be = backends.get(backend, device)
    if solver is None:
        solver = "DOP853" if be.name == "numpy" else "dopri5"
    if be.name != "numpy" or (method == "ode" and solver in _batched_ode.SOLVERS):
        target_b = be.asarray(s_star[None])

        def stack_field(y, idx):
            xp = array_namespace(y)
            sigma = xp.reshape(y, (y.shape[0],) + shape)
            v = velocity(sigma, target_b, q, block_diagonal, damping, weight_decay, max_speed)
            return lr * xp.reshape(v, (y.shape[0], -1))

        res = _run_batched(be, stack_field, be.asarray(s0.reshape(1, -1)), t, method, solver,
                           rtol, atol, max_norm, quiet, dt)
        return ModeTrajectory(res.t, np.stack(res.y).reshape((-1,) + shape), res.status,
                              res.message)

    def field(y: np.ndarray) -> np.ndarray:
        v = velocity(y.reshape(shape), s_star, q, block_diagonal, damping, weight_decay, max_speed)
        return lr * v.ravel()

    res = _run(field, s0.ravel(), t, method, solver, rtol, atol, max_norm, quiet)
    return ModeTrajectory(res.t, np.stack(res.y).reshape((-1,) + shape), res.status, res.message)


def _run_batched(be, field, y0, t, method, solver, rtol, atol, max_norm, quiet,
                 dt) -> _ode.Result:
    """One member through the batched integrators; back to a numpy :class:`_ode.Result`."""
    opts = _batched_ode.Options.checked(method, solver, t, rtol, atol, dt, max_norm)
    res = _batched_ode.solve(be.guard(field), y0, opts, quiet, "modes")
    k = int(res.saved[0])
    return _ode.Result(res.t[:k], [be.to_numpy(y)[0] for y in res.y[:k]], int(res.status[0]),
                       res.message[0], res.nfev)


# -- the balanced map ODE (eq 17) -------------------------------------------------------------
def exponent(d: int, q: float) -> float:
    """``p = 2 (d - 1)(q - 1) / (d q)`` (Huh 2020, eq 17); ``2 (d - 1)/d`` at ``q = inf``."""
    d = _depth(d)
    q = V.order_q(q)
    if math.isinf(q):
        return 2.0 * (d - 1) / d
    return 2.0 * (d - 1) * (q - 1) / (d * q)


def calibrated_rate(lr: float, d: int, q: float) -> float:
    """Depth-calibrated learning rate ``etabar = lr d^{1 - 1/q}`` (eq 17)."""
    q = V.order_q(q)
    return V.positive(lr, "lr") * _depth(d) ** (1.0 - (0.0 if math.isinf(q) else 1.0 / q))


def map_velocity(sbar: np.ndarray, target: np.ndarray, d: int, q: float,
                 lr: float = 1.0) -> np.ndarray:
    """``dsbar/dt = -etabar (sbar - s*) |sbar|^p`` for balanced modes (eq 17)."""
    sbar = np.asarray(sbar, dtype=float)
    return -calibrated_rate(lr, d, q) * (sbar - target) * np.abs(sbar) ** exponent(d, q)


def simulate_map(sbar0, target, t, d: int, q: float, lr: float = 1.0, solver: str = "DOP853",
                 rtol: float = 1e-12, atol: float = 1e-14, max_norm: float = 1e8,
                 quiet: bool = True) -> ModeTrajectory:
    """Integrate eq 17 for each mode; returns a trajectory with ``sigma`` of shape (T, m, 1)."""
    d, q = _depth(d), V.order_q(q)
    return simulate_map_exponent(sbar0, target, t, exponent(d, q), calibrated_rate(lr, d, q),
                                 solver, rtol, atol, max_norm, quiet)


def simulate_map_exponent(sbar0, target, t, p: float, etabar: float = 1.0,
                          solver: str = "DOP853", rtol: float = 1e-12, atol: float = 1e-14,
                          max_norm: float = 1e8, quiet: bool = True) -> ModeTrajectory:
    """Integrate ``dsbar/dt = -etabar (sbar - s*) |sbar|^p`` for any exponent ``p >= 0``
    (e.g. the ``d -> inf`` GD limit ``p = 2``)."""
    s0 = _vector(sbar0, "sbar0")
    s_star = _vector(target, "target", s0.shape[0])
    p = V.nonnegative(p, "p")
    etabar = V.positive(etabar, "etabar")

    def field(y):
        return -etabar * (y - s_star) * np.abs(y) ** p

    res = _run(field, s0, t, "ode", solver, rtol, atol, max_norm, quiet)
    return ModeTrajectory(res.t, np.stack(res.y)[:, :, None], res.status, res.message)


# -- end-to-end map dynamics of balanced networks (any q) -------------------------------------
def end_to_end_velocity(w: np.ndarray, target: np.ndarray, d: int, q: float,
                        damping: float = 0.0,
                        rcond: float = curvature.DEFAULT_RCOND) -> np.ndarray:
    """``dW/dt = -K_W K_W^{+1/q} [W - W*]`` at unit rate, balanced network, ``S = I``.

    ``K_W[X] = sum_{i=0}^{d-1} (W W^T)^{(d-1-i)/d} X (W^T W)^{i/d}`` is diagonal in the SVD
    basis of ``W`` (claim scale.end_to_end): the map evolves on its own, whatever the hidden
    layers. ``q = inf`` is the end-to-end dynamics of gradient descent (Arora et al. 2018);
    ``q = 1`` gives ``-P (W - W*)`` with ``P`` the projection onto the range of ``K_W``.
    """
    u, v, lam = curvature.balanced_svd(w, d)
    gain = lam * curvature.inverse_power(lam, q, damping, rcond)
    return -(u @ (gain * (u.T @ (w - target) @ v)) @ v.T)


def simulate_end_to_end(w0, target, t, d: int, q: float, lr: float = 1.0,
                        damping: float = 0.0, solver: str = "DOP853", rtol: float = 1e-10,
                        atol: float = 1e-12, max_norm: float = 1e8,
                        quiet: bool = True) -> ModeTrajectory:
    """Integrate :func:`end_to_end_velocity` from the map ``w0``; ``sigma`` holds ``W(t)``
    with shape ``(T, n_d, n_0)``."""
    w0 = V.as_matrix(w0, "w0")
    w_star = V.as_matrix(target, "target", w0.shape)
    d, q, lr = _depth(d), V.order_q(q), V.positive(lr, "lr")
    damping = V.nonnegative(damping, "damping")
    shape = w0.shape

    def field(y):
        return lr * end_to_end_velocity(y.reshape(shape), w_star, d, q, damping).ravel()

    res = _run(field, w0.ravel(), t, "ode", solver, rtol, atol, max_norm, quiet)
    return ModeTrajectory(res.t, np.stack(res.y).reshape((-1,) + shape), res.status,
                          res.message)


def _run(field, y0, t, method, solver, rtol, atol, max_norm, quiet) -> _ode.Result:
    max_norm = V.positive(max_norm, "max_norm")
    if method == "ode":
        rtol, atol = _ode.check_solver_options(solver, rtol, atol)
        return _ode.ode(lambda _t, y: field(y), y0, V.time_grid(t), solver, rtol, atol,
                        max_norm, quiet=quiet, desc="modes")
    if method == "discrete":
        return _ode.discrete(field, y0, _ode.step_grid(t), max_norm, quiet, desc="modes")
    raise ValueError(f"method must be 'ode' or 'discrete', got {method!r}")


def _vector(x, name: str, n: int | None = None) -> np.ndarray:
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an array of real numbers")
    a = np.atleast_1d(np.array(x, dtype=float))
    if a.ndim != 1 or (n is not None and a.shape[0] != n):
        want = f"({n},)" if n is not None else "(m,)"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return a


def _depth(d) -> int:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError(f"d must be an integer >= 1, got {d!r}")
    return int(d)
