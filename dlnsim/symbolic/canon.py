"""Closed forms of the field's classic deep-linear-network results, in dlnsim's conventions.

Loss ``L = 1/2 Tr[(W - W*) S (W - W*)^T]``, imbalance ``c_i = w_i w_i^T - w_{i+1}^T w_{i+1}``,
continuous time multiplies the field by ``lr``. Each function states its derivation's key
step; ``theory/canon.md`` gives the rest and the claims that check them (``canon.*``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from dlnsim import _validate as V


def unbalanced_mode_gd(t, u0: float, c: float, s_star: float, lr: float = 1.0) -> np.ndarray:
    """The map strength ``u(t) = sigma_1 sigma_2`` of one aligned depth-2 mode under gradient
    flow from any imbalance ``c = sigma_1^2 - sigma_2^2 != 0`` (Fukumizu 1998; Braun et al.
    2022; Dominé et al., "From lazy to rich").

    ``du/dt = lr (s* - u) sqrt(c^2 + 4 u^2)``; with ``u = |c|/4 (x - 1/x)`` this is the
    constant-coefficient Riccati equation ``dx/dt = lr (|c|/2 + 2 s* x - |c|/2 x^2)``, whose
    solution with roots ``x_+ > 0 > x_-`` is ``y = (x - x_+)/(x - x_-) = y_0 e^{-a (x_+ - x_-) t}``,
    ``a = lr |c| / 2``.

    Parameters
    ----------
    t : array_like
        Times.
    u0 : float
        ``u(0)`` (any sign).
    c : float
        The conserved imbalance, non-zero (``c = 0`` is eq 17 of Huh 2020).
    s_star : float
        The target strength.
    lr : float
        Learning rate.

    Returns
    -------
    numpy.ndarray
        ``u(t)``.
    """
    t = np.asarray(t, dtype=float)
    u0, s_star, lr = V.real(u0, "u0"), V.real(s_star, "s_star"), V.positive(lr, "lr")
    c = abs(V.real(c, "c"))
    if c == 0:
        raise ValueError("c must be non-zero (at c = 0 use symbolic.closed_form, eq 17)")
    a, b = lr * c / 2, 2 * lr * s_star
    root = math.sqrt(b * b + 4 * a * a)
    x_hi, x_lo = (b + root) / (2 * a), (b - root) / (2 * a)
    k = 2 * u0 / c
    x0 = k + math.sqrt(k * k + 1) if k >= 0 else 1 / (math.sqrt(k * k + 1) - k)
    y = (x0 - x_hi) / (x0 - x_lo) * np.exp(-a * (x_hi - x_lo) * t)
    x = (x_hi - y * x_lo) / (1 - y)
    return c / 4 * (x - 1 / x)


def unbalanced_mode_rate(u, c: float, s_star: float, q: float = math.inf,
                         lr: float = 1.0) -> np.ndarray:
    """``du/dt = lr (s* - u) (c^2 + 4 u^2)^{(q-1)/(2q)}`` for one aligned depth-2 mode under
    q-NGD with imbalance ``c`` (Huh 2020, eq 12 with ``||j||^2 = sigma_1^2 + sigma_2^2 =
    sqrt(c^2 + 4 u^2)``); ``q = inf`` is gradient flow, ``c = 0`` eq 17 at depth 2."""
    u = np.asarray(u, dtype=float)
    power = 0.5 if math.isinf(q) else (q - 1) / (2 * q)
    return lr * (s_star - u) * (c * c + 4 * u * u) ** power


def discrete_mode_map(u, s_star: float, lr: float) -> np.ndarray:
    """One step of discrete gradient descent on a balanced aligned depth-2 mode:
    ``u <- u (1 + lr (s* - u))^2`` (Gidel, Bach and Lacoste-Julien 2019): each factor
    ``a = sqrt(u)`` moves by ``lr (s* - a^2) a``."""
    u = np.asarray(u, dtype=float)
    return u * (1 + lr * (s_star - u)) ** 2


def balanced_sharpness(s_max: float, d: int) -> float:
    """The top Gauss-Newton eigenvalue (the Hessian's at a global minimum) of a balanced
    network at ``S = I`` whose map has largest singular value ``s_max``: ``d s_max^{2(d-1)/d}``
    (Mulayoff and Michaeli 2020). The balanced kernel's eigenvalue on ``u_1 v_1^T`` is
    ``sum_i s^{2(d-1-i)/d} s^{2i/d}``."""
    d = V.positive_int(d, "d")
    return d * V.nonnegative(s_max, "s_max") ** (2 * (d - 1) / d)


def decay_fixed_points(s_star: float, gamma: float, d: int) -> list[float]:
    """The non-zero fixed points ``sbar`` of a balanced aligned mode under gradient flow with
    decoupled weight decay ``gamma``: ``(s* - sbar) sbar^{(d-2)/d} = gamma`` (Ziyin et al.
    2022, in dlnsim's normalisation), from ``da/dt = lr [(s* - a^d) a^{d-1} - gamma a]`` with
    ``sbar = a^d``. Sorted increasing; at ``d = 2`` the one point ``s* - gamma`` (if > 0);
    at ``d >= 3`` two points below :func:`critical_decay`, none above it.

    Parameters
    ----------
    s_star : float
        Target strength, > 0.
    gamma : float
        Decay rate, >= 0.
    d : int
        Depth.

    Returns
    -------
    list of float
    """
    s_star, gamma = V.positive(s_star, "s_star"), V.nonnegative(gamma, "gamma")
    d = V.positive_int(d, "d")
    if d == 1:  # s* - sbar = gamma sbar
        return [s_star / (1 + gamma)]
    if d == 2:
        return [s_star - gamma] if s_star > gamma else []
    g = (d - 2) / d

    def h(x):
        return (s_star - x) * x**g - gamma

    peak = s_star * g / (1 + g)  # where (s* - x) x^g is largest
    if h(peak) < 0:
        return []
    if h(peak) == 0:
        return [peak]
    return [brentq(h, 0.0, peak, xtol=1e-300, rtol=4 * np.finfo(float).eps),
            brentq(h, peak, s_star, xtol=1e-300, rtol=4 * np.finfo(float).eps)]


def critical_decay(s_star: float, d: int) -> float:
    """The largest ``gamma`` with a non-zero fixed point at depth ``d >= 3``:
    ``max_x (s* - x) x^{(d-2)/d}``, at ``x = s* (d-2)/(2d-2)``."""
    s_star, d = V.positive(s_star, "s_star"), V.positive_int(d, "d")
    if d < 3:
        return s_star if d == 2 else math.inf
    g = (d - 2) / d
    x = s_star * g / (1 + g)
    return (s_star - x) * x**g


__all__ = ["balanced_sharpness", "critical_decay", "decay_fixed_points", "discrete_mode_map",
           "unbalanced_mode_gd", "unbalanced_mode_rate"]
