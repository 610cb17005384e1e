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
    sqrt(c^2 + 4 u^2)``); ``q = inf`` is gradient flow, ``c = 0`` eq 17 at depth 2.

    Parameters
    ----------
    u : array_like
        Map strengths.
    c : float
        The conserved imbalance ``sigma_1^2 - sigma_2^2``.
    s_star : float
        The target strength.
    q : float
        Curvature order (``inf``: gradient flow).
    lr : float
        Learning rate.

    Returns
    -------
    numpy.ndarray
        ``du/dt``.
    """
    u = np.asarray(u, dtype=float)
    power = 0.5 if math.isinf(q) else (q - 1) / (2 * q)
    return lr * (s_star - u) * (c * c + 4 * u * u) ** power


def discrete_mode_map(u, s_star: float, lr: float) -> np.ndarray:
    """One step of discrete gradient descent on a balanced aligned depth-2 mode:
    ``u <- u (1 + lr (s* - u))^2`` (Gidel, Bach and Lacoste-Julien 2019): each factor
    ``a = sqrt(u)`` moves by ``lr (s* - a^2) a``.

    Parameters
    ----------
    u : array_like
        Map strengths before the step.
    s_star : float
        The target strength.
    lr : float
        Learning rate.

    Returns
    -------
    numpy.ndarray
        The strengths after one step.
    """
    u = np.asarray(u, dtype=float)
    return u * (1 + lr * (s_star - u)) ** 2


def balanced_sharpness(s_max: float, d: int) -> float:
    """The top Gauss-Newton eigenvalue (the Hessian's at a global minimum) of a balanced
    network at ``S = I`` whose map has largest singular value ``s_max``: ``d s_max^{2(d-1)/d}``
    (Mulayoff and Michaeli 2020). The balanced kernel's eigenvalue on ``u_1 v_1^T`` is
    ``sum_i s^{2(d-1-i)/d} s^{2i/d}``.

    Parameters
    ----------
    s_max : float
        The map's largest singular value.
    d : int
        Depth.

    Returns
    -------
    float
    """
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
    ``max_x (s* - x) x^{(d-2)/d}``, at ``x = s* (d-2)/(2d-2)`` (``s*`` at ``d = 2``, ``inf``
    at ``d = 1``).

    Parameters
    ----------
    s_star : float
        Target strength, > 0.
    d : int
        Depth.

    Returns
    -------
    float
    """
    s_star, d = V.positive(s_star, "s_star"), V.positive_int(d, "d")
    if d < 3:
        return s_star if d == 2 else math.inf
    g = (d - 2) / d
    x = s_star * g / (1 + g)
    return (s_star - x) * x**g


def riccati_matrix(target, lam: float) -> np.ndarray:
    """``F = [[lam/2 I_{n0}, W*^T], [W*, -lam/2 I_{n2}]]`` of the depth-2 matrix Riccati
    equation ``dX/dt = lr (F X + X F - X^2)`` (:func:`lambda_balanced_depth2`).

    Parameters
    ----------
    target : array_like
        ``W*``, shape ``(n2, n0)``.
    lam : float
        The start's balance, ``c_1 = lam I``.

    Returns
    -------
    numpy.ndarray
        ``F``, shape ``(n0 + n2, n0 + n2)``.
    """
    w = np.asarray(target, dtype=float)
    n2, n0 = w.shape
    return np.block([[lam / 2 * np.eye(n0), w.T], [w, -lam / 2 * np.eye(n2)]])


def lambda_balanced_depth2(w1, w2, target, t, lr: float = 1.0,
                           rtol: float = 1e-10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient flow of a depth-2 network from any lambda-balanced start, full matrices, not
    aligned, ``S = I`` (Fukumizu 1998; Braun et al. 2022; Dominé et al., "From lazy to rich").

    With ``c_1 = w_1 w_1^T - w_2^T w_2 = lam I`` and ``Q = [w_1^T; w_2]``, ``X = Q Q^T`` obeys
    ``dX/dt = lr (F X + X F - X^2)`` (:func:`riccati_matrix`; ``Q' = lr (F Q - Q Q^T Q / 2)``
    because ``Q^T Q / 2 = w_2^T w_2 + lam/2 I = w_1 w_1^T - lam/2 I``), solved by
    ``X(tau) = e^{F tau} Q_0 [I + Q_0^T (int_0^tau e^{2 F s} ds) Q_0]^{-1} Q_0^T e^{F tau}``,
    ``tau = lr t``. The exponentials grow as ``e^{tau |f|max}`` and the formula cancels them,
    so it is evaluated with mpmath at ``2 tau |f|max / ln 10`` extra digits (float64 loses
    1e-6 at ``tau s_max = 6``).

    Parameters
    ----------
    w1, w2 : array_like
        The layers at ``t = 0``, shapes ``(n1, n0)`` and ``(n2, n1)``, lambda-balanced.
    target : array_like
        ``W*``, shape ``(n2, n0)``.
    t : array_like
        Times.
    lr : float
        Learning rate.
    rtol : float
        How far from ``lam I`` the start's ``c_1`` may be (relative to its largest entry).

    Returns
    -------
    tuple of numpy.ndarray
        The maps ``W(t)`` ``(T, n2, n0)``, ``w_1^T w_1`` ``(T, n0, n0)`` and the hidden
        representation's kernel ``w_2 w_2^T`` ``(T, n2, n2)``.
    """
    import mpmath

    w1, w2 = V.as_matrix(w1, "w1"), V.as_matrix(w2, "w2")
    target = V.as_matrix(target, "target", (w2.shape[0], w1.shape[1]))
    if w2.shape[1] != w1.shape[0]:
        raise ValueError(f"w2 must have {w1.shape[0]} columns (w1's rows), got {w2.shape}")
    lr, t = V.positive(lr, "lr"), np.asarray(t, dtype=float)
    c = w1 @ w1.T - w2.T @ w2
    lam = float(np.trace(c)) / c.shape[0]
    scale = max(float(np.abs(w1).max()) ** 2, float(np.abs(w2).max()) ** 2, 1e-300)
    if np.abs(c - lam * np.eye(c.shape[0])).max() > rtol * scale:
        raise ValueError("the start is not lambda-balanced: w1 w1^T - w2^T w2 is not a "
                         "multiple of I")
    f = np.linalg.eigvalsh(riccati_matrix(target, lam))
    reach = float(np.abs(f).max()) * lr * float(np.abs(t).max() if t.size else 0.0)
    n0, n1 = w1.shape[1], w1.shape[0]
    q0 = np.vstack([w1.T, w2])
    with mpmath.workdps(25 + int(2 * reach / math.log(10))):
        # eigenvectors in high precision too: the cancellation spans all of F's spectrum
        fm, vm = mpmath.eigsy(mpmath.matrix(riccati_matrix(target, lam).tolist()))
        z0 = vm.T * mpmath.matrix(q0.tolist())
        size = q0.shape[0]
        out = []
        for tau in lr * t:
            e = [mpmath.exp(fm[k] * tau) for k in range(size)]
            g = [(mpmath.expm1(2 * fm[k] * tau) / (2 * fm[k])) if fm[k] != 0 else
                 mpmath.mpf(tau) for k in range(size)]
            b = mpmath.eye(n1) + z0.T * mpmath.diag(g) * z0
            y = mpmath.diag(e) * z0
            x = vm * (y * mpmath.inverse(b) * y.T) * vm.T
            out.append(np.array(x.tolist(), dtype=float))
    x = np.array(out).reshape(len(t), q0.shape[0], q0.shape[0])
    return x[:, n0:, :n0], x[:, :n0, :n0], x[:, n0:, n0:]


def _psd_power(a: np.ndarray, p: float) -> np.ndarray:
    """``a^p`` of a symmetric PSD matrix by eigh (round-off eigenvalues as 0, ``0^0 = 1``)."""
    evals, vecs = np.linalg.eigh(0.5 * (a + a.T))
    top = max(float(evals.max()), 0.0)
    evals = np.where(evals > a.shape[0] * np.finfo(float).eps * top, evals, 0.0)
    return (vecs * (evals ** p if p != 0 else np.ones_like(evals))) @ vecs.T


def end_to_end_gd_velocity(w, target, d: int, input_cov=None) -> np.ndarray:
    """``dW/dt`` at unit rate of a balanced depth-``d`` network under gradient flow, any input
    covariance ``S`` (Arora, Cohen and Hazan 2018, eq 7 in dlnsim's loss):
    ``-sum_{j=1}^d (W W^T)^{(d-j)/d} G (W^T W)^{(j-1)/d}`` with ``G = (W - W*) S``.

    Balance gives ``W_{>i} W_{>i}^T = (W W^T)^{(d-1-i)/d}`` and
    ``W_{<i}^T W_{<i} = (W^T W)^{i/d}``, and ``dW = sum_i W_{>i} dw_i W_{<i}`` with
    ``dw_i = -W_{>i}^T G W_{<i}^T``.

    Parameters
    ----------
    w : array_like
        The map ``W``, shape ``(n_d, n_0)``.
    target : array_like
        ``W*``, the same shape.
    d : int
        Depth.
    input_cov : array_like, optional
        ``S`` (default the identity).

    Returns
    -------
    numpy.ndarray
        ``dW/dt``, the shape of ``w``.
    """
    w = V.as_matrix(w, "w")
    g = (w - V.as_matrix(target, "target", w.shape)) @ (
        np.eye(w.shape[1]) if input_cov is None else V.spd(input_cov, "input_cov"))
    d = V.positive_int(d, "d")
    left, right = w @ w.T, w.T @ w
    return -sum(_psd_power(left, (d - j) / d) @ g @ _psd_power(right, (j - 1) / d)
                for j in range(1, d + 1))


def end_to_end_svd_velocity(w, target, d: int, input_cov=None):
    """``(ds/dt, dU/dt, dV/dt)`` of the thin SVD ``W = U diag(s) V^T`` under
    :func:`end_to_end_gd_velocity` (Arora, Cohen, Hu and Luo 2019, in dlnsim's loss), for a map
    of full rank ``r = min(n_d, n_0)`` with distinct singular values.

    With ``A = U^T dW V``: ``ds_r = A_rr = -d s_r^{2 - 2/d} <G, u_r v_r^T>``;
    ``dU = U Om_U + (I - U U^T) dW V diag(1/s)``, ``dV = V Om_V + (I - V V^T) dW^T U diag(1/s)``
    with ``Om_U[r, k] = (A_rk s_k + A_kr s_r) / (s_k^2 - s_r^2)`` and
    ``Om_V[r, k] = (A_rk s_r + A_kr s_k) / (s_k^2 - s_r^2)`` off the diagonal (0 on it), from
    differentiating ``W = U S V^T`` with ``U^T U = V^T V = I``.

    Parameters
    ----------
    w, target : array_like
        The map and ``W*``, shape ``(n_d, n_0)``.
    d : int
        Depth.
    input_cov : array_like, optional
        ``S`` (default the identity).

    Returns
    -------
    tuple of numpy.ndarray
        ``ds/dt`` (r,), ``dU/dt`` (n_d, r) and ``dV/dt`` (n_0, r), the signs of
        ``numpy.linalg.svd``'s vectors.
    """
    w = V.as_matrix(w, "w")
    dw = end_to_end_gd_velocity(w, target, d, input_cov)
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    v = vt.T
    a = u.T @ dw @ v
    gap = s[None, :] ** 2 - s[:, None] ** 2
    np.fill_diagonal(gap, 1.0)
    om_u = (a * s[None, :] + a.T * s[:, None]) / gap
    om_v = (a * s[:, None] + a.T * s[None, :]) / gap
    np.fill_diagonal(om_u, 0.0)
    np.fill_diagonal(om_v, 0.0)
    du = u @ om_u + (dw - u @ (u.T @ dw)) @ v / s
    dv = v @ om_v + (dw.T - v @ (v.T @ dw.T)) @ u / s
    return np.diag(a).copy(), du, dv


__all__ = ["balanced_sharpness", "critical_decay", "decay_fixed_points", "discrete_mode_map",
           "end_to_end_gd_velocity", "end_to_end_svd_velocity", "lambda_balanced_depth2",
           "riccati_matrix", "unbalanced_mode_gd", "unbalanced_mode_rate"]


def __dir__() -> list[str]:
    """The public names (tab completion and ``dir()`` show no imports)."""
    return sorted(__all__)
